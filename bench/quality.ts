/**
 * `deno task bench quality`: wall time for the generator to reach a given SWD at 64², latent vs
 * pixel mode, on MNIST upscaled to 64². Each mode gets the same budget; the latent clock
 * includes training the autoencoder and encoding. The clock is this process's CPU time (user +
 * system, all threads), so other work on the machine does not bias one mode against the other;
 * on an idle machine wall time is about CPU time / threads. SWD (x1e3, ProGAN) of 256 generated
 * vs 256 real images is measured every `--eval-every` CPU seconds; evaluation is not counted. The
 * threshold is the worse of the two final SWDs, i.e. a quality both modes reach.
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend/mod.ts";
import { openImageBatches } from "../data/image_batches.ts";
import { openArrayBatches, writeFloatArray } from "../data/zarr_arrays.ts";
import { mapBatchesAsync, trainAutoencoder } from "../train/autoencoder.ts";
import { decode, encode } from "../models/autoencoder.ts";
import { createGan } from "../train/gan.ts";
import { type GanConfig, generate, sampleLatents } from "../models/gan.ts";
import { twoStageStep } from "../train/gan_step.ts";
import { adamFor, stepNets } from "../train/recipe.ts";
import { Adam, emaUpdate } from "../train/adam.ts";
import { Rng } from "../nn/rng.ts";
import type { BatchSource } from "../data/batch_source.ts";
import { cpuSeconds } from "./cpu_clock.ts";
import { numberFlag } from "./flags.ts";
import { prepareMnist64, RES, swdAgainst } from "./mnist64.ts";

interface Curve {
  points: { seconds: number; swd: number }[];
}

async function trainTimed(
  cfg: GanConfig,
  data: BatchSource,
  budget: number,
  startSeconds: number,
  evalEvery: number,
  evalSwd: (g: tf.Tensor4D) => Promise<number>,
  toImages: (x: tf.Tensor4D) => tf.Tensor4D,
): Promise<Curve> {
  const m = createGan(cfg, 1);
  const og = new Adam(adamFor(cfg.arch));
  const od = new Adam(adamFor(cfg.arch));
  const rng = new Rng(1);
  const evalZ = sampleLatents(new Rng(99), 256, cfg);
  const [h, w, c] = data.sampleShape;
  const n = data.batchSize;
  const curve: Curve = { points: [] };
  const nets = stepNets(m, cfg);
  let clock = startSeconds;
  let nextEval = startSeconds + evalEvery;
  for (let step = 0; clock < budget; step++) {
    const t0 = cpuSeconds();
    const real = tf.tensor4d(await data.batch(step), [n, h, w, c]);
    const z1 = sampleLatents(rng, n, cfg), z2 = sampleLatents(rng, n, cfg);
    twoStageStep(nets, real, z1, z2, od, og);
    emaUpdate(m.ema.list(), m.g.list(), Math.min(0.999, (1 + step) / (10 + step)));
    tf.dispose([real, z1, z2]);
    clock += cpuSeconds() - t0;
    if (clock >= nextEval || clock >= budget) {
      nextEval += evalEvery;
      const imgs = tf.tidy(() => toImages(generate(m.ema, cfg, evalZ)));
      curve.points.push({ seconds: clock, swd: await evalSwd(imgs) });
      console.log(
        `  step ${step + 1}, ${clock.toFixed(0)} CPU-s: SWD ${curve.points.at(-1)!.swd.toFixed(1)}`,
      );
      imgs.dispose();
    }
  }
  tf.disposeVariables();
  evalZ.dispose();
  return curve;
}

function firstReach(c: Curve, threshold: number): number | null {
  return c.points.find((p) => p.swd <= threshold)?.seconds ?? null;
}

export async function benchQuality(args: string[]): Promise<void> {
  // CPU seconds per mode: 2400 is about 20 minutes of training on 2 idle cores.
  const budget = numberFlag(args, "seconds", 2400);
  const evalEvery = numberFlag(args, "eval-every", 120);
  const aeSteps = numberFlag(args, "ae-steps", 600);
  const info = await initBackend("auto");
  const dir = await Deno.makeTempDir({ prefix: "ganflow-quality-" });
  try {
    const real = await prepareMnist64(dir, 4000);
    const evalSwd = swdAgainst(real.data);
    console.log(
      `backend ${info.detail}; budget ${budget} CPU-s of training per mode; SWD every ${evalEvery} CPU-s`,
    );
    // Pixel mode.
    const pixData = await openImageBatches({ store: dir, resolution: RES, batchSize: 32, seed: 1 });
    const pixel = await trainTimed(
      { shape: [RES, RES, 3], zDim: 64, baseChannels: 256, tanh: true },
      pixData,
      budget,
      0,
      evalEvery,
      evalSwd,
      (x) => x,
    );
    // Latent mode: the autoencoder and encoding count against the budget.
    const t0 = cpuSeconds();
    const aeCfg = { factor: 8, latentChannels: 4, width: 16 };
    const ae = await trainAutoencoder({
      config: aeCfg,
      data: await openImageBatches({ store: dir, resolution: RES, batchSize: 32, seed: 2 }),
      steps: aeSteps,
      seed: 1,
      lr: 2e-3,
    });
    const x = real.data.map((v) => v / 127.5 - 1);
    const codes = await mapBatchesAsync(x, [RES, RES, 3], 128, (t) => encode(ae.params, aeCfg, t));
    await writeFloatArray(dir, "codes", codes.data, [real.shape[0], ...codes.shape]);
    const aeSeconds = cpuSeconds() - t0;
    const codeData = await openArrayBatches({ store: dir, array: "codes", batchSize: 32, seed: 1 });
    const latent = await trainTimed(
      { shape: codes.shape, zDim: 64, baseChannels: 256, tanh: false },
      codeData,
      budget,
      aeSeconds,
      evalEvery,
      evalSwd,
      (z) => decode(ae.params, aeCfg, z),
    );
    const last = (c: Curve) => c.points.length ? c.points[c.points.length - 1].swd : Infinity;
    const threshold = Math.max(last(pixel), last(latent));
    const tp = firstReach(pixel, threshold), tl = firstReach(latent, threshold);
    const fmt = (c: Curve) =>
      c.points.map((p) => `${p.seconds.toFixed(0)}s:${p.swd.toFixed(0)}`).join(" ");
    console.log(`pixel  SWD over CPU time: ${fmt(pixel)}`);
    console.log(
      `latent SWD over CPU time (autoencoder + encode ${aeSeconds.toFixed(0)} s first): ${
        fmt(latent)
      }`,
    );
    console.log(
      `threshold SWD ${threshold.toFixed(1)}: pixel ${tp?.toFixed(0) ?? "never"} s, latent ${
        tl?.toFixed(0) ?? "never"
      } s` +
        (tp && tl ? ` -> latent reaches it ${(tp / tl).toFixed(2)}x sooner` : ""),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
