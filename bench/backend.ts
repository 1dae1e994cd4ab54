/**
 * `deno task bench backend`: the reference GAN step of the backend issue on each available
 * backend, the same network in PyTorch (/usr/bin/python3) in the same run, and the GFLOP/s of a
 * lone 3x3 64->64 conv on 32x64x64. Prints ratios; absolute figures depend on the machine.
 */
import * as tf from "@tensorflow/tfjs";
import { type BackendName, initBackend } from "../backend/mod.ts";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import { conv2d, dense, lrelu, upsample2x } from "../models/layers.ts";
import { Adam } from "../train/adam.ts";
import { type StepNets, twoStageStep } from "../train/gan_step.ts";

const Z = 128;

function referenceNets(size: number) {
  const blocks = size === 64 ? [128, 64, 32, 16] : [128, 64, 32];
  const G = (p: Params, z: tf.Tensor2D) => {
    let h = tf.reshape(dense(p, "fc", z, 4 * 4 * 256), [-1, 4, 4, 256]) as tf.Tensor4D;
    blocks.forEach((c, i) => (h = lrelu(conv2d(p, `c${i}`, upsample2x(h), c))));
    return tf.tanh(conv2d(p, "out", h, 3));
  };
  const D = (p: Params, x: tf.Tensor4D) => {
    let h = x;
    [32, 64, 128, 256].forEach((c, i) => (h = lrelu(conv2d(p, `c${i}`, h, c, { stride: 2 }))));
    return tf.reshape(dense(p, "fc", tf.reshape(h, [h.shape[0], -1]) as tf.Tensor2D, 1), [-1]);
  };
  return { G, D };
}

/** ms per (D step + G step) after warm-up, on the current backend. */
export function ganStepMs(
  size: number,
  batch: number,
  steps: number,
): { ms: number; gParams: number; dParams: number } {
  const { G, D } = referenceNets(size);
  const rng = new Rng(0);
  const g = new Params(rng.fork()), d = new Params(rng.fork());
  tf.tidy(() => D(d, G(g, tf.zeros([1, Z]))));
  const og = new Adam({ lr: 2e-4, beta1: 0.5, beta2: 0.999, eps: 1e-8 });
  const od = new Adam({ lr: 2e-4, beta1: 0.5, beta2: 0.999, eps: 1e-8 });
  const real = tf.tensor4d(rng.normalArray(batch * size * size * 3), [batch, size, size, 3]);
  const nets: StepNets = { g, d, G: (z) => G(g, z), D: (x) => D(d, x) };
  const step = () => {
    const z1 = tf.tensor2d(rng.normalArray(batch * Z), [batch, Z]);
    const z2 = tf.tensor2d(rng.normalArray(batch * Z), [batch, Z]);
    twoStageStep(nets, real, z1, z2, od, og);
    tf.dispose([z1, z2]);
  };
  for (let i = 0; i < 2; i++) step();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  const ms = (performance.now() - t0) / steps;
  const out = { ms, gParams: g.count(), dParams: d.count() };
  g.dispose();
  d.dispose();
  og.dispose();
  od.dispose();
  real.dispose();
  return out;
}

function convGflops(): { fwd: number; bwd: number } {
  const x = tf.randomNormal([32, 64, 64, 64], 0, 1, "float32", 1) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 64, 64], 0, 1, "float32", 2) as tf.Tensor4D;
  const flop = 2 * 32 * 64 * 64 * 64 * 64 * 9;
  const time = (f: () => void) => {
    f();
    const t0 = performance.now();
    for (let i = 0; i < 3; i++) f();
    return (performance.now() - t0) / 3 / 1000;
  };
  const fwd = time(() => tf.tidy(() => void tf.conv2d(x, w, 1, "same").dataSync()));
  const dy = tf.randomNormal([32, 64, 64, 64], 0, 1, "float32", 3) as tf.Tensor4D;
  const bwd = time(() =>
    tf.tidy(() => {
      tf.conv2dTranspose(dy, w, [32, 64, 64, 64], 1, "same").dataSync(); // input gradient
      (tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
        strides: 1,
        pad: "same",
        dataFormat: "NHWC",
        filterShape: [3, 3, 64, 64],
      }) as tf.Tensor).dataSync();
    })
  );
  tf.dispose([x, w, dy]);
  return { fwd: flop / fwd / 1e9, bwd: (2 * flop) / bwd / 1e9 };
}

function torchStep(size: number, batch: number, steps: number): { ms_per_step: number } | null {
  try {
    const out = new Deno.Command("/usr/bin/python3", {
      args: [
        new URL("./torch_ref/backend_step.py", import.meta.url).pathname,
        "--steps",
        String(steps),
        "--size",
        String(size),
        "--batch",
        String(batch),
        "--threads",
        String(navigator.hardwareConcurrency),
      ],
    }).outputSync();
    if (out.code !== 0) return null;
    return JSON.parse(new TextDecoder().decode(out.stdout).trim());
  } catch {
    return null;
  }
}

export async function benchBackend(args: string[]): Promise<void> {
  const size = args.includes("--32") ? 32 : 64;
  const batch = 32;
  const steps = Number(args.find((a) => a.startsWith("--steps="))?.slice(8) ?? 5);
  const backends: BackendName[] = args.includes("--all") ? ["onednn", "cpu"] : ["onednn"];
  console.log(`reference GAN step: ${size}x${size}, batch ${batch}, ${steps} timed steps`);
  const torch = torchStep(size, batch, steps);
  let best = Infinity;
  for (const b of backends) {
    try {
      const info = await initBackend(b);
      const r = ganStepMs(size, batch, steps);
      best = Math.min(best, r.ms);
      console.log(
        `${info.name.padEnd(8)} ${r.ms.toFixed(0).padStart(6)} ms/step  ${
          (batch * 1000 / r.ms).toFixed(1).padStart(7)
        } img/s  (G ${r.gParams} params, D ${r.dParams})  ${info.detail}`,
      );
      const c = convGflops();
      console.log(
        `${"".padEnd(8)} conv3x3 64->64 on 32x64x64: forward ${
          c.fwd.toFixed(1)
        } GFLOP/s, backward ${c.bwd.toFixed(1)} GFLOP/s`,
      );
    } catch (e) {
      console.log(`${b.padEnd(8)} unavailable: ${(e as Error).message}`);
    }
  }
  if (torch) {
    console.log(
      `torch    ${torch.ms_per_step.toFixed(0).padStart(6)} ms/step  ${
        (batch * 1000 / torch.ms_per_step).toFixed(1).padStart(7)
      } img/s  (PyTorch, ${navigator.hardwareConcurrency} threads)`,
    );
    console.log(
      `ratio vs torch: ${
        (torch.ms_per_step / best).toFixed(2)
      }  (our throughput / torch throughput; target >= 0.8)`,
    );
  } else {
    console.log("torch: /usr/bin/python3 with torch not available; no ratio");
  }
}
