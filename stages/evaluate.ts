/**
 * Stage `evaluate`: quality metrics of the generated images, each next to the real-vs-real
 * "Reals2" baseline, written to metrics.json. Everything that depends on the real images alone
 * (Reals2, the real images' Inception features) comes from `real-stats`, computed once per
 * dataset; so do the protocol's settings (images per set, seed, KID subsets, Inception weights).
 *
 * - SWD (ProGAN's sliced Wasserstein distance) and MS-SSIM of consecutive pairs (diversity);
 * - FID and KID on pytorch-fid's Inception-v3 pool3 features, when `real-stats` had the weights
 *   (the same file, checked by SHA-256, embeds the samples);
 * - a curve of SWD over training: every `train-generator` snapshot (`snapshots/step-NNNNNNN.gft`,
 *   EMA weights) and the final model each generate `curveCount` images from the same latents,
 *   compared with as many real images.
 *
 * Generated images are quantised to 8 bits before every metric, as saved samples would be.
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { join } from "node:path";
import { defineStage, type InputRef, type StageContext } from "../pipeline/stage.ts";
import { readFloatArray } from "../data/zarr_batches.ts";
import { type ImageSet, slicedWassersteinDistance } from "../metrics/swd.ts";
import { msSsimConsecutivePairs } from "../metrics/ms_ssim.ts";
import {
  disposeInception,
  extractFeatures,
  FEATURE_DIM,
  loadInception,
} from "../metrics/inception.ts";
import { fidFromFeatures, kidFromFeatures } from "../metrics/fid.ts";
import { type GanConfig, generate, type Phase } from "../models/gan.ts";
import { upsampleTo } from "../models/layers.ts";
import type { AutoencoderConfig } from "../models/autoencoder.ts";
import { slimChain, slimConfigOf } from "../models/slim_decoder.ts";
import type { ChainRunner } from "../backend/chain_runner.ts";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import { sampleLatents } from "../train/gan.ts";
import { readModel, startBackend } from "./common.ts";
import { readRealImages, readRealStats, swdLevels, unitRange } from "./real_stats.ts";

const params = z.object({
  /** Images per point of the SWD-over-training curve; 0 turns the curve off. */
  curveCount: z.number().int().min(0).default(256),
});

/** [-1, 1] images quantised to 8 bits, as values in [0, 255] (what saved samples would hold). */
function quantise(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    out[i] = Math.min(255, Math.max(0, Math.round((x[i] + 1) * 127.5)));
  }
  return out;
}

/** Images from a generator file (EMA weights "E/"), decoded in latent mode. */
async function generateImages(
  genPath: string,
  ae: { params: Params; config: AutoencoderConfig } | null,
  count: number,
  seed: number,
  batch = 64,
): Promise<{ data: Float32Array; shape: [number, number, number] }> {
  const gen = await readModel(genPath);
  const config = gen.meta.config as GanConfig;
  const g = new Params(new Rng(0), false);
  g.loadArrays(gen.arrays, "E/");
  let post = (x: tf.Tensor4D) => x;
  let dec: ChainRunner | null = null;
  if (gen.meta.space === "latent") {
    if (!ae) throw new Error(`${genPath}: a latent-space generator needs the autoencoder`);
    const { mean, std } = gen.meta.codeStats as { mean: number[]; std: number[] };
    const runner = dec = slimChain(ae.params.toArrays(), slimConfigOf(ae.config));
    post = (x) => runner.run(tf.add(tf.mul(x, std), mean) as tf.Tensor4D);
  }
  const rng = new Rng(seed);
  let out: Float32Array | null = null;
  let shape: [number, number, number] = [0, 0, 0];
  for (let i = 0; i < count; i += batch) {
    const m = Math.min(batch, count - i);
    // Snapshots of a growing GAN carry their phase: sample at it, upsampled to full size.
    const phase = gen.meta.phase as Phase | undefined;
    const imgs = tf.tidy(() =>
      post(
        upsampleTo(
          generate(g, config, sampleLatents(rng, m, config.zDim), { phase }),
          config.shape[0],
        ),
      )
    );
    if (!out) {
      shape = imgs.shape.slice(1) as [number, number, number];
      out = new Float32Array(count * shape[0] * shape[1] * shape[2]);
    }
    out.set(await imgs.data() as Float32Array, i * shape[0] * shape[1] * shape[2]);
    imgs.dispose();
  }
  g.dispose();
  dec?.dispose();
  return { data: out!, shape };
}

export const evaluateStage = defineStage({
  name: "evaluate",
  module: import.meta.url,
  params,
  inputs: (p, paramsOf): Record<string, InputRef> => {
    const latent = (paramsOf("train-generator") as { space: string }).space === "latent";
    return {
      samples: "sample.samples",
      dataset: "prepare.dataset",
      realStats: "real-stats.stats",
      ...(p.curveCount > 0
        ? {
          snapshots: "train-generator.snapshots",
          generator: "train-generator.model",
          ...(latent ? { autoencoder: "train-autoencoder.model" } : {}),
        }
        : {}),
    };
  },
  outputs: { metrics: "metrics.json" },
  uses: ["backend"],
  async run(ctx) {
    await startBackend(ctx);
    const p = ctx.params;
    const stats = await readRealStats(ctx.inputs.realStats);
    const real = await readRealImages(ctx.inputs.dataset);
    const fake = await readFloatArray(ctx.inputs.samples, "images");
    const { h, w, c } = real;
    if (fake.shape[1] !== h || fake.shape[2] !== w || fake.shape[3] !== c) {
      throw new Error(`samples [${fake.shape}] and real images [${[h, w, c]}] differ in size`);
    }
    // Each real set holds stats.count images; with fewer samples, prefixes of both are used.
    const full = stats.count;
    const n = Math.min(full, fake.shape[0]);
    if (n < 2) throw new Error(`evaluate needs at least 2 samples, got ${fake.shape[0]}`);
    const notes = [...stats.notes];
    const seed = stats.seed;
    const realA = real.set(0, n), realB = real.set(full, n);
    const steps = 3 + (p.curveCount > 0 ? 1 : 0);
    ctx.progress(0, steps, "SWD model vs real");
    const fakeBytes = quantise(fake.data.subarray(0, n * h * w * c));
    const fakeSet: ImageSet = { data: fakeBytes, n, h, w, c };
    const model = slicedWassersteinDistance(realA, fakeSet, { seed });
    let reals2 = stats.reals2;
    if (n < full) {
      notes.push(
        `${n} samples, fewer than real-stats' ${full} images per set: Reals2 recomputed at ${n}`,
      );
      const swd = slicedWassersteinDistance(realA, realB, { seed });
      reals2 = {
        swd: swdLevels(swd),
        swdAverage: swd.average,
        msSsim: msSsimConsecutivePairs(realA),
      };
    }
    ctx.progress(1, steps, "MS-SSIM");
    // ProGAN's diversity score: MS-SSIM of consecutive pairs (lower = more diverse).
    const msModel = msSsimConsecutivePairs(fakeSet);

    ctx.progress(2, steps, "FID/KID");
    let fid: number | null = null;
    let kid: { mean: number; std: number } | null = null;
    if (stats.inception && stats.features) {
      const loaded = await loadInception(stats.inception.path);
      if (loaded.sha256 !== stats.inception.sha256) {
        disposeInception(loaded.net);
        throw new Error(
          `${stats.inception.path} changed since real-stats embedded the real images ` +
            `(SHA-256 ${loaded.sha256.slice(0, 16)}..., was ${
              stats.inception.sha256.slice(0, 16)
            }...): ` +
            "run the pipeline again so real-stats re-keys on the new file",
        );
      }
      const fFake = extractFeatures(loaded.net, unitRange(fakeBytes), [n, h, w, c], {
        batch: stats.fidBatch,
        onProgress: (k) => ctx.progress(k, n, "Inception features"),
      });
      disposeInception(loaded.net);
      const d = FEATURE_DIM;
      const fA = stats.features.a.subarray(0, n * d), fB = stats.features.b.subarray(0, n * d);
      const kidOpts = { ...stats.kid, seed };
      fid = fidFromFeatures(fFake, n, fA, n, d);
      kid = kidFromFeatures(fFake, fA, d, kidOpts);
      if (n < full) {
        reals2 = {
          ...reals2,
          fid: fidFromFeatures(fB, n, fA, n, d),
          kid: kidFromFeatures(fB, fA, d, kidOpts),
        };
      }
      if (n < d) {
        notes.push(
          `FID on ${n} images per set (< ${d} feature dimensions): biased upwards; compare ` +
            "runs only at the same count.",
        );
      }
    }

    let curve: {
      count: number;
      points: { step: number; swd: number }[];
      reals2: number;
    } | null = null;
    if (p.curveCount > 0) {
      ctx.progress(3, steps, "SWD over training");
      curve = await swdCurve(ctx, p, real.set, Math.floor(real.n / 2), real.resolution, seed);
    }
    ctx.progress(steps, steps);
    const metrics = {
      images: n,
      resolution: real.resolution,
      swd: swdLevels(model),
      swdAverage: model.average,
      msSsim: msModel,
      ...(fid !== null ? { fid, kid } : {}),
      reals2,
      ...(stats.inception ? { inception: stats.inception } : {}),
      ...(curve ? { curve } : {}),
      notes,
    };
    await Deno.writeTextFile(ctx.outputs.metrics, JSON.stringify(metrics, null, 2));
    ctx.log(
      `SWD x1e3: model ${model.average.toFixed(2)}, real-vs-real ${reals2.swdAverage.toFixed(2)}` +
        (fid !== null
          ? `; FID model ${fid.toFixed(2)}, real-vs-real ${reals2.fid!.toFixed(2)}`
          : ""),
    );
    tf.disposeVariables();
    return {
      swd: model.average,
      reals2Swd: reals2.swdAverage,
      msSsim: msModel,
      reals2MsSsim: reals2.msSsim,
      ...(fid !== null
        ? {
          fid,
          reals2Fid: reals2.fid,
          kid: kid!.mean,
          reals2Kid: reals2.kid!.mean,
          inceptionSha256: stats.inception!.sha256,
        }
        : {}),
    };
  },
});

/**
 * SWD of `curveCount` images (at most half the real set) from every snapshot and the final model
 * vs as many real images; Reals2 at the same count from the other half.
 */
async function swdCurve(
  ctx: StageContext<z.infer<typeof params>>,
  p: z.infer<typeof params>,
  realSet: (start: number, count: number) => ImageSet,
  realHalf: number,
  res: number,
  seed: number,
) {
  const count = Math.min(p.curveCount, realHalf);
  const realA = realSet(0, count);
  let ae: { params: Params; config: AutoencoderConfig } | null = null;
  if (ctx.inputs.autoencoder) {
    const model = await readModel(ctx.inputs.autoencoder);
    const aeParams = new Params(new Rng(0), false);
    aeParams.loadArrays(model.arrays);
    ae = { params: aeParams, config: model.meta.config as AutoencoderConfig };
  }
  const files = [...Deno.readDirSync(ctx.inputs.snapshots)]
    .map((e) => e.name)
    .filter((name) => /^step-\d{7}\.gft$/.test(name))
    .sort()
    .map((name) => ({ step: Number(name.slice(5, 12)), path: join(ctx.inputs.snapshots, name) }));
  const finalStep = (ctx.records["train-generator"]?.params as { steps?: number } | undefined)
    ?.steps;
  if (finalStep !== undefined && !files.some((f) => f.step === finalStep)) {
    files.push({ step: finalStep, path: ctx.inputs.generator });
  }
  const points: { step: number; swd: number }[] = [];
  for (const [i, f] of files.entries()) {
    ctx.progress(i, files.length, `SWD at step ${f.step}`);
    // The same latents for every point, so the curve follows the weights, not the draw.
    const imgs = await generateImages(f.path, ae, count, seed ^ 0x5eed);
    if (imgs.shape[0] !== res) {
      ctx.log(`snapshot at step ${f.step} makes ${imgs.shape[0]}px images; skipped`);
      continue;
    }
    const set: ImageSet = {
      data: quantise(imgs.data),
      n: count,
      h: imgs.shape[0],
      w: imgs.shape[1],
      c: imgs.shape[2],
    };
    points.push({
      step: f.step,
      swd: slicedWassersteinDistance(realA, set, { seed }).average,
    });
  }
  ae?.params.dispose();
  // The real-vs-real level at this image count, for scale.
  const realB = realSet(realHalf, count);
  const reals2 = slicedWassersteinDistance(realA, realB, { seed }).average;
  return { count, points, reals2 };
}
