/**
 * `deno task bench latent`: generator training cost per 1k training images (kimg) in latent vs
 * pixel mode at 32², 64² and 128², same batch and the same depth rules (latent codes are the
 * autoencoder's 8x downsampled 4-channel codes; pixel mode trains on the images). Prints ratios.
 */
import type { BenchRecorder } from "./results.ts";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend/mod.ts";
import { createGan } from "../train/gan.ts";
import { twoStageStep } from "../train/gan_step.ts";
import { adamFor, stepNets } from "../train/recipe.ts";
import { type GanConfig, sampleLatents } from "../models/gan.ts";
import { Adam } from "../train/adam.ts";
import { Rng } from "../nn/rng.ts";
import { numberFlag } from "./flags.ts";

function secondsPerKimg(cfg: GanConfig, batch: number, steps: number): number {
  const m = createGan(cfg, 1);
  const og = new Adam(adamFor(cfg.arch));
  const od = new Adam(adamFor(cfg.arch));
  const rng = new Rng(1);
  const real = tf.tensor4d(rng.normalArray(batch * cfg.shape[0] * cfg.shape[1] * cfg.shape[2]), [
    batch,
    ...cfg.shape,
  ]);
  const nets = stepNets(m, cfg);
  const step = () => {
    const z = sampleLatents(rng, batch, cfg);
    twoStageStep(nets, real, z, z, od, og);
    z.dispose();
  };
  step();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  const s = (performance.now() - t0) / 1000 / steps;
  tf.disposeVariables();
  real.dispose();
  og.dispose();
  od.dispose();
  return s / (batch / 1000);
}

export async function benchLatent(args: string[], rec?: BenchRecorder): Promise<void> {
  const steps = numberFlag(args, "steps", 3);
  const batch = 32;
  const info = await initBackend("auto");
  console.log(`backend ${info.detail}; batch ${batch}; ${steps} timed steps per case`);
  const sizes = args.includes("--quick") ? [32, 64] : [32, 64, 128];
  for (const res of sizes) {
    const code = res / 8;
    const latent = secondsPerKimg(
      {
        shape: [Math.max(4, code), Math.max(4, code), 4],
        zDim: 128,
        baseChannels: 256,
        tanh: false,
      },
      batch,
      steps,
    );
    const pixel = secondsPerKimg(
      { shape: [res, res, 3], zDim: 128, baseChannels: 256, tanh: true },
      batch,
      steps,
    );
    console.log(
      `${String(res).padStart(3)}²: pixel ${pixel.toFixed(1).padStart(7)} s/kimg, latent (${
        Math.max(4, code)
      }²x4) ${latent.toFixed(1).padStart(6)} s/kimg -> latent is ${
        (pixel / latent).toFixed(1)
      }x faster per kimg`,
    );
    rec?.figure(`latent.${res}.pixel_s_per_kimg`, `${res}²: pixel GAN`, pixel, "s/kimg");
    rec?.figure(`latent.${res}.latent_s_per_kimg`, `${res}²: latent GAN`, latent, "s/kimg");
    rec?.figure(
      `latent.${res}.pixel_over_latent`,
      `${res}²: pixel / latent cost per kimg`,
      pixel / latent,
      "x",
    );
  }
}
