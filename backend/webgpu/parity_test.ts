/**
 * Every op the models use, forward and backward, on WebGPU against the cpu backend, at tiny
 * sizes: whole networks (their gradients exercise each op's backward), the gradient penalty's
 * second-order gradient, one-stage training's device-side gamma, and the kernels ganflow replaces
 * or adds on the cpu backend (pixel norm, the nearest-upsampling gradient at batch > 1, the
 * average pool's second-order gradient, lean BN+GLU, Adam, the compiled decoder chain).
 *
 * Tolerance: |webgpu - cpu| <= 2e-3 * max|cpu| per tensor (float32 sums in another order;
 * lavapipe contracts multiply-adds). The worst seen on lavapipe was 2.8e-4 (WGAN-GP's
 * second-order gradient); a wrong kernel misses by orders of magnitude (checked by breaking one).
 * Ignored, with the reason printed, where no WebGPU adapter exists.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertAllClose, assertEquals } from "../../tests/assert.ts";
import { initBackend } from "../mod.ts";
import { noWebGpu, sayIfIgnored } from "./gpu_available.ts";
import { Rng } from "../../nn/rng.ts";
import { Params } from "../../nn/params.ts";
import { createGan } from "../../train/gan.ts";
import {
  discriminatorGrads,
  generatorGrads,
  oneStageGrads,
  oneStageGradsOnDevice,
  type StepNets,
} from "../../train/gan_step.ts";
import { GAN_LOSSES } from "../../train/losses.ts";
import {
  discriminate,
  type GanConfig,
  generate,
  type Phase,
  sampleLatents,
} from "../../models/gan.ts";
import { createAutoencoder } from "../../train/autoencoder.ts";
import { decode, encode, encoderFeatures, patchCritic } from "../../models/autoencoder.ts";
import { projectFeatures } from "../../models/projected_d.ts";
import { PIXEL_NORM, PIXEL_NORM_GRAD, pixelNorm } from "../ops/pixel_norm.ts";
import { LEAKY_GRAD } from "../ops/leaky_relu_grad.ts";
import { batchNormGlu } from "../../models/lean_bn_glu.ts";
import { Adam } from "../../train/adam.ts";
import { gammaTensor } from "../../train/one_stage_gamma.ts";
import { slimChain, slimConfigOf } from "../../models/slim_decoder.ts";

sayIfIgnored("WebGPU parity tests");
const ignore = noWebGpu !== null;
const RTOL = 2e-3, ATOL = 1e-10;

type Named = Record<string, Float32Array>;

/** `f` on cpu, then on webgpu (inputs rebuilt from the same seeds), as host arrays by name. */
async function onBoth(f: () => Record<string, tf.Tensor>): Promise<{ cpu: Named; gpu: Named }> {
  const out: Named[] = [];
  for (const backend of ["cpu", "webgpu"] as const) {
    await initBackend(backend);
    const ts = f();
    const names = Object.keys(ts);
    const values = await Promise.all(names.map((n) => ts[n].data()));
    out.push(Object.fromEntries(names.map((n, i) => [n, values[i] as Float32Array])));
    tf.dispose(Object.values(ts));
    tf.disposeVariables();
  }
  return { cpu: out[0], gpu: out[1] };
}

function assertParity({ cpu, gpu }: { cpu: Named; gpu: Named }, what: string): void {
  assertEquals(Object.keys(gpu).sort(), Object.keys(cpu).sort(), `${what}: outputs`);
  for (const [name, ref] of Object.entries(cpu)) {
    const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assert(Number.isFinite(scale), `${what} ${name}: cpu reference not finite`);
    assertAllClose(gpu[name], ref, { rtol: 0, atol: ATOL + RTOL * scale, msg: `${what} ${name}` });
  }
}

const normal = (seed: number, shape: number[], std = 1) =>
  tf.tensor(new Rng(seed).normalArray(shape.reduce((a, b) => a * b, 1), std), shape);

/** Gradients keyed by parameter name ("g/..." or "d/..."), plus the loss. */
function named(nets: StepNets, r: { value: tf.Scalar; grads: tf.NamedTensorMap }) {
  const out: Record<string, tf.Tensor> = { loss: r.value };
  for (const [part, p] of [["g", nets.g], ["d", nets.d]] as const) {
    for (const v of p.list()) if (r.grads[v.name]) out[`${part}/${p.nameOf(v)}`] = r.grads[v.name];
  }
  return out;
}

function netsOf(
  cfg: GanConfig,
  seed: number,
  phase?: Phase,
  features?: ReturnType<typeof projectFeatures>,
) {
  const { g, d } = createGan(cfg, seed, features);
  const call = { phase, noiseSeed: 5, features };
  const nets: StepNets = {
    g,
    d,
    G: (z) => generate(g, cfg, z, call),
    D: (x) => discriminate(d, cfg, x, call),
    DLean: (x) => discriminate(d, cfg, x, { ...call, lean: true }),
  };
  return nets;
}

function batchOf(cfg: GanConfig, n: number, size = cfg.shape[0]) {
  const rng = new Rng(99);
  return {
    real: tf.tanh(normal(3, [n, size, size, cfg.shape[2]])) as tf.Tensor4D,
    z1: sampleLatents(rng, n, cfg),
    z2: sampleLatents(rng, n, cfg),
    eps: tf.tensor1d(rng.uniformArray(n)),
  };
}

const TINY: GanConfig = { shape: [8, 8, 3], zDim: 8, baseChannels: 16, minChannels: 8, tanh: true };

Deno.test({
  name: "webgpu parity: DCGAN D (lean layers) and G gradients, logistic loss",
  ignore,
  async fn() {
    const loss = GAN_LOSSES.logistic;
    assertParity(
      await onBoth(() => {
        const nets = netsOf(TINY, 1), b = batchOf(TINY, 2);
        return {
          ...named(nets, discriminatorGrads(nets, b, { loss })),
          ...Object.fromEntries(
            Object.entries(named(nets, generatorGrads(nets, b.z2, { loss }))).map((
              [k, v],
            ) => [`G-step ${k}`, v]),
          ),
        };
      }),
      "dcgan",
    );
  },
});

Deno.test({
  name: "webgpu parity: separable G and D (depthwise convs), hinge loss",
  ignore,
  async fn() {
    const cfg: GanConfig = { ...TINY, conv: "separable", separableD: true };
    const loss = GAN_LOSSES.hinge;
    assertParity(
      await onBoth(() => {
        const nets = netsOf(cfg, 2), b = batchOf(cfg, 2);
        return {
          ...named(nets, discriminatorGrads(nets, b, { loss })),
          ...Object.fromEntries(
            Object.entries(named(nets, generatorGrads(nets, b.z2, { loss }))).map((
              [k, v],
            ) => [`G-step ${k}`, v]),
          ),
        };
      }),
      "separable",
    );
  },
});

Deno.test({
  name: "webgpu parity: ProGAN mid-fade, WGAN-GP (second-order gradient through D)",
  ignore,
  async fn() {
    const cfg: GanConfig = { ...TINY, arch: "progan" };
    const phase = { level: 1, alpha: 0.4 };
    const o = { loss: GAN_LOSSES.wgan, reg: { gpLambda: 10, drift: 1e-3 } };
    assertParity(
      await onBoth(() => {
        const nets = netsOf(cfg, 3, phase), b = batchOf(cfg, 2);
        return named(nets, discriminatorGrads(nets, b, o));
      }),
      "progan wgan-gp",
    );
  },
});

Deno.test({
  name: "webgpu parity: one-stage step (gamma on the device vs the host's), WGAN-GP and logistic",
  ignore,
  async fn() {
    for (
      const o of [{ loss: GAN_LOSSES.logistic }, {
        loss: GAN_LOSSES.wgan,
        reg: { gpLambda: 10, drift: 1e-3 },
      }]
    ) {
      const results = await onBoth(() => {
        const nets = netsOf(TINY, 4), b = batchOf(TINY, 2);
        if (tf.getBackend() === "cpu") {
          const r = oneStageGrads(nets, b, o);
          return { ...named(nets, r), gValue: tf.scalar(r.gValue) };
        }
        const r = oneStageGradsOnDevice(nets, b, o);
        return { ...named(nets, r), gValue: r.gValue };
      });
      assertParity(results, `one-stage ${o.loss.name}`);
    }
    const gammas = await onBoth(() => {
      const p = tf.tensor1d([-100, -3, -0.5, 0, 0.25, 2, 90]);
      return {
        logistic: gammaTensor(GAN_LOSSES.logistic, p),
        wgan: gammaTensor(GAN_LOSSES.wgan, p),
      };
    });
    const p = Float32Array.of(-100, -3, -0.5, 0, 0.25, 2, 90);
    for (const backend of ["cpu", "gpu"] as const) {
      assertAllClose(gammas[backend].logistic, GAN_LOSSES.logistic.gamma!(p), { rtol: 1e-5 });
      assertAllClose(gammas[backend].wgan, GAN_LOSSES.wgan.gamma!(p), { rtol: 0 });
    }
  },
});

Deno.test({
  name: "webgpu parity: FastGAN G with a projected D on a frozen encoder; autoencoder + critic",
  ignore,
  async fn() {
    const cfg: GanConfig = { ...TINY, arch: "fastgan", discriminator: "projected" };
    const aeConfig = { factor: 2, latentChannels: 4, width: 8 };
    const loss = GAN_LOSSES.logistic;
    assertParity(
      await onBoth(() => {
        const ae = createAutoencoder(aeConfig, 8, 1);
        const features = projectFeatures((x) => encoderFeatures(ae, aeConfig, x), 3, 8);
        const nets = netsOf(cfg, 5, undefined, features), b = batchOf(cfg, 2);
        const aeGrads = tf.variableGrads(() => {
          const rec = decode(ae, aeConfig, encode(ae, aeConfig, b.real));
          return tf.add(
            tf.mean(tf.abs(tf.sub(rec, b.real))),
            tf.mean(patchCritic(ae, rec, 8)),
          ) as tf.Scalar;
        }, ae.list());
        const aeNamed: Record<string, tf.Tensor> = { "ae loss": aeGrads.value };
        for (const v of ae.list()) {
          if (aeGrads.grads[v.name]) aeNamed[`ae/${ae.nameOf(v)}`] = aeGrads.grads[v.name];
        }
        return {
          ...aeNamed,
          ...named(nets, discriminatorGrads(nets, b, { loss })),
          ...Object.fromEntries(
            Object.entries(named(nets, generatorGrads(nets, b.z2, { loss }))).map((
              [k, v],
            ) => [`G-step ${k}`, v]),
          ),
        };
      }),
      "fastgan projected",
    );
  },
});

Deno.test({
  name:
    "webgpu parity: kernels ganflow replaces on cpu (pixel norm, upsampling and pooling grads, BN+GLU)",
  ignore,
  async fn() {
    assertParity(
      await onBoth(() => {
        const x = normal(1, [2, 4, 4, 6]) as tf.Tensor4D;
        const dy = normal(2, [2, 8, 8, 6]);
        const [gx, gg, gb] = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(batchNormGlu(a as tf.Tensor4D, g, b), normal(7, [2, 4, 4, 3])))
        )([x, normal(5, [6], 0.3).add(1), normal(6, [6], 0.3)]);
        // Nearest upsampling at batch 2 (tfjs cpu's own gradient kernel was wrong there).
        const up = tf.grad((a: tf.Tensor) =>
          tf.sum(tf.mul(tf.image.resizeNearestNeighbor(a as tf.Tensor4D, [8, 8]), dy))
        )(x);
        // Box downsampling's gradient, and its gradient (WGAN-GP differentiates through it).
        const pool = (a: tf.Tensor) =>
          tf.sum(tf.square(tf.avgPool(a as tf.Tensor4D, 2, 2, "valid")));
        const poolGrad2 = tf.grad((a: tf.Tensor) => tf.sum(tf.square(tf.grad(pool)(a))))(x);
        const pn = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(pixelNorm(a), normal(3, [2, 4, 4, 6]))))(
          x,
        );
        return {
          pixelNorm: pixelNorm(x),
          pixelNormGrad: pn,
          bnGlu: batchNormGlu(x, normal(5, [6], 0.3).add(1), normal(6, [6], 0.3)),
          bnGluDx: gx,
          bnGluDgamma: gg,
          bnGluDbeta: gb,
          upsampleGrad: up,
          poolGrad: tf.grad(pool)(x),
          poolGrad2,
          leakyRelu2: tf.grad((a: tf.Tensor) =>
            tf.sum(tf.square(tf.grad((c: tf.Tensor) => tf.sum(tf.mul(tf.leakyRelu(c, 0.2), c)))(a)))
          )(x),
        };
      }),
      "kernels",
    );
  },
});

Deno.test({
  name: "webgpu parity: Adam updates and the compiled decoder chain on device tensors",
  ignore,
  async fn() {
    const aeConfig = { factor: 2, latentChannels: 4, width: 8 };
    await initBackend("cpu");
    const decoder = createAutoencoder(aeConfig, 8, 2).toArrays();
    tf.disposeVariables();
    assertParity(
      await onBoth(() => {
        const p = new Params(new Rng(1));
        const w = p.get("w", [3, 5], { kind: "normal", std: 1 });
        // 1000 values: several workgroups of the fused update.
        const big = p.get("big", [40, 25], { kind: "normal", std: 0.1 });
        const adam = new Adam({ lr: 0.01, beta1: 0.5, beta2: 0.99, eps: 1e-8 });
        for (let i = 0; i < 3; i++) {
          const g = normal(10 + i, [3, 5]), gBig = normal(20 + i, [40, 25], 1e-3);
          adam.apply(p, { [w.name]: g, [big.name]: gBig });
          tf.dispose([g, gBig]);
        }
        const chain = slimChain(decoder, slimConfigOf(aeConfig));
        const z = normal(4, [2, 4, 4, 4]) as tf.Tensor4D;
        const decoded = chain.run(z);
        chain.dispose();
        return {
          w: tf.clone(w),
          m: tf.clone(adam.m.get("w")!),
          v: tf.clone(adam.v.get("w")!),
          big: tf.clone(big),
          mBig: tf.clone(adam.m.get("big")!),
          vBig: tf.clone(adam.v.get("big")!),
          decoded,
        };
      }),
      "adam + chain",
    );
  },
});

Deno.test({
  name:
    "webgpu parity: ganflow's WGSL kernels (leaky-ReLU gradient, pixel norm) over many workgroups",
  ignore,
  async fn() {
    const results = await onBoth(() => {
      // 3 x 9 x 9 pixels = 243 rows and 1215 elements: several 128-wide workgroups each.
      const x = normal(21, [3, 9, 9, 5]);
      const dy = normal(22, [3, 9, 9, 5]);
      const y = tf.leakyRelu(x, 0.2);
      const out: Record<string, tf.Tensor> = {
        // The formula as tfjs ops on either backend: the reference for both kernels.
        leakyRef: tf.mul(dy, tf.where(tf.greater(y, 0), tf.onesLike(y), tf.fill(y.shape, 0.2))),
        pixelRef: tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), 1e-8))),
        pixelGradRef: tf.grad((a: tf.Tensor) =>
          tf.sum(tf.mul(tf.mul(a, tf.rsqrt(tf.add(tf.mean(tf.square(a), -1, true), 1e-8))), dy))
        )(x),
      };
      if (tf.getBackend() === "webgpu") {
        for (const k of [LEAKY_GRAD, PIXEL_NORM, PIXEL_NORM_GRAD]) {
          assert(tf.getKernel(k, "webgpu"), `${k} is registered on webgpu`);
        }
      }
      // (The cpu backend has this kernel only once onednn has started: the formula stands in.)
      out.leaky = tf.getKernel(LEAKY_GRAD, tf.getBackend())
        ? tf.engine().runKernel(LEAKY_GRAD, { dy, x: y }, { alpha: 0.2 }) as tf.Tensor
        : tf.clone(out.leakyRef);
      out.pixel = tf.engine().runKernel(PIXEL_NORM, { x }, { eps: 1e-8 }) as tf.Tensor;
      out.pixelGrad = tf.engine().runKernel(PIXEL_NORM_GRAD, { dy, x }, { eps: 1e-8 }) as tf.Tensor;
      return out;
    });
    assertParity(results, "WGSL kernels");
    for (
      const [k, ref] of [["leaky", "leakyRef"], ["pixel", "pixelRef"], [
        "pixelGrad",
        "pixelGradRef",
      ]]
    ) {
      assertAllClose(results.gpu[k], results.gpu[ref], {
        rtol: 1e-5,
        atol: 1e-6,
        msg: `${k} vs formula`,
      });
    }
  },
});
