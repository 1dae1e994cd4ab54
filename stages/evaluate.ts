/**
 * Stage `evaluate`: quality metrics of the generated images, each next to the real-vs-real
 * "Reals2" baseline, written to metrics.json. Everything that depends on the real images alone
 * (Reals2, the real images' Inception features) comes from `real-stats`, computed once per
 * dataset; so do the protocol's settings (images per set, seed, KID subsets, Inception weights).
 *
 * - SWD (ProGAN's sliced Wasserstein distance) and MS-SSIM of consecutive pairs (diversity);
 * - FID and KID on pytorch-fid's Inception-v3 pool3 features, when `real-stats` had the weights
 *   (the same file, checked by SHA-256, embeds the samples);
 * - in latent mode, the autoencoder's floor: SWD of real set B's reconstructions against set A,
 *   what a generator that matched the codes exactly would score (the decoder's share of the gap
 *   to Reals2, told apart from the generator's);
 * - a curve of SWD over training: every `train-generator` snapshot (`snapshots/step-NNNNNNN.gft`,
 *   EMA weights) and the final model each generate `curveCount` images from the same latents,
 *   compared with as many real images.
 *
 * Generated images are quantised to 8 bits before every metric, as saved samples would be.
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { join } from "node:path";
import { type InputRef, type StageContext } from "../pipeline/stage.ts";
import { readFloatArray } from "../data/zarr_arrays.ts";
import { type ImageSet, slicedWassersteinDistances } from "../metrics/swd.ts";
import { msSsimConsecutivePairs } from "../metrics/ms_ssim.ts";
import {
  disposeInception,
  extractFeatures,
  FEATURE_DIM,
  loadInception,
} from "../metrics/inception.ts";
import { fidFromFeatures } from "../metrics/fid.ts";
import { kidFromFeatures } from "../metrics/kid.ts";
import { readAutoencoderFile } from "../models/autoencoder_file.ts";
import { decode, encode } from "../models/autoencoder.ts";
import { mapBatchesAsync } from "../train/autoencoder.ts";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import { slimConfigOf } from "../models/slim_decoder.ts";
import { type DecoderWeights, TrainedGenerator } from "../models/trained_generator.ts";
import { tensorStage } from "./tensor_stage.ts";
import { readRealImages, readRealStats, setsDigest, swdLevels } from "./real_stats.ts";
import { toUnitRange } from "./prepared_dataset.ts";

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

export const evaluateStage = tensorStage({
  name: "evaluate",
  module: import.meta.url,
  params,
  inputs: (p, paramsOf): Record<string, InputRef> => {
    const latent = (paramsOf("train-generator") as { space: string }).space === "latent";
    return {
      samples: "sample.samples",
      dataset: "prepare.dataset",
      realStats: "real-stats.stats",
      ...(latent ? { autoencoder: "train-autoencoder.model" } : {}),
      ...(p.curveCount > 0
        ? { snapshots: "train-generator.snapshots", generator: "train-generator.model" }
        : {}),
    };
  },
  outputs: { metrics: "metrics.json" },
  async run(ctx) {
    const p = ctx.params;
    const stats = await readRealStats(ctx.inputs.realStats);
    const real = await readRealImages(ctx.inputs.dataset, stats.seed);
    if (setsDigest(real.sets, stats.count) !== stats.sets?.sha256) {
      throw new Error(
        "real-stats drew its real sets by another rule than this evaluate (stats from an older " +
          "ganflow?): run real-stats again",
      );
    }
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
    const realA = real.set("a", n), realB = real.set("b", n);
    const latent = ctx.inputs.autoencoder !== undefined;
    const steps = 3 + (p.curveCount > 0 ? 1 : 0);
    const fakeBytes = quantise(fake.data.subarray(0, n * h * w * c));
    const fakeSet: ImageSet = { data: fakeBytes, n, h, w, c };
    // Everything compared with real set A in one SWD call, which draws A's patches once: the
    // samples, real set B reconstructed by the autoencoder (its floor: what a perfect generator
    // of codes would score), and B itself when Reals2 must be recomputed at fewer images.
    const others: ImageSet[] = [];
    if (latent) {
      ctx.progress(0, steps, "autoencoder floor: reconstructing set B");
      others.push(await reconstruct(await readAutoencoderFile(ctx.inputs.autoencoder), realB));
    }
    if (n < full) others.push(realB);
    ctx.progress(0, steps, "SWD vs real set A");
    const [model, ...swdOthers] = await slicedWassersteinDistances(realA, [fakeSet, ...others], {
      seed,
    });
    const aeFloor = latent ? swdOthers.shift()!.average : null;
    let reals2 = stats.reals2;
    if (n < full) {
      notes.push(
        `${n} samples, fewer than real-stats' ${full} images per set: Reals2 recomputed at ${n}`,
      );
      const swd = swdOthers.shift()!;
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
      const fFake = extractFeatures(loaded.net, toUnitRange(fakeBytes), [n, h, w, c], {
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
      curve = await swdCurve(ctx, p, real.set, real.half, real.resolution, seed);
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
      ...(aeFloor !== null ? { aeFloorSwd: aeFloor } : {}),
      ...(curve ? { curve } : {}),
      notes,
    };
    await Deno.writeTextFile(ctx.outputs.metrics, JSON.stringify(metrics, null, 2));
    ctx.log(
      `SWD x1e3: model ${model.average.toFixed(2)}, real-vs-real ${reals2.swdAverage.toFixed(2)}` +
        (aeFloor !== null ? `, autoencoder floor ${aeFloor.toFixed(2)}` : "") +
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
      ...(aeFloor !== null ? { aeFloorSwd: aeFloor } : {}),
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

/** 8-bit images through the autoencoder and back, quantised again as samples are. */
async function reconstruct(
  ae: Awaited<ReturnType<typeof readAutoencoderFile>>,
  set: ImageSet,
): Promise<ImageSet> {
  const params = new Params(new Rng(0), false);
  params.loadArrays(ae.arrays);
  const { h, w, c } = set;
  const rec = await mapBatchesAsync(
    toUnitRange(set.data),
    [h, w, c],
    100,
    (t) => decode(params, ae.config, encode(params, ae.config, t)),
  );
  params.dispose();
  return { ...set, data: quantise(rec.data) };
}

/**
 * SWD of `curveCount` images (at most half the dataset) from every snapshot and the final model
 * vs as many images of real set A; Reals2 at the same count between prefixes of A and B.
 */
async function swdCurve(
  ctx: StageContext<z.infer<typeof params>>,
  p: z.infer<typeof params>,
  realSet: (which: "a" | "b", count: number) => ImageSet,
  realHalf: number,
  res: number,
  seed: number,
) {
  const count = Math.min(p.curveCount, realHalf);
  const realA = realSet("a", count);
  let decoder: DecoderWeights | null = null;
  if (ctx.inputs.autoencoder) {
    const ae = await readAutoencoderFile(ctx.inputs.autoencoder);
    decoder = { arrays: ae.arrays, config: slimConfigOf(ae.config) };
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
  const sampled: { step: number; set: ImageSet }[] = [];
  for (const [i, f] of files.entries()) {
    ctx.progress(i, files.length + 1, `sampling the model at step ${f.step}`);
    // The same latents for every point, so the curve follows the weights, not the draw.
    const gen = await TrainedGenerator.load(f.path, decoder);
    const imgs = await gen.sampleAll(count, seed ^ 0x5eed, 64);
    gen.dispose();
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
    sampled.push({ step: f.step, set });
  }
  // Every point and the real-vs-real level at this image count (for scale) in one SWD call.
  ctx.progress(files.length, files.length + 1, "SWD of every step");
  const realB = realSet("b", count);
  const swd = await slicedWassersteinDistances(realA, [...sampled.map((s) => s.set), realB], {
    seed,
  });
  const reals2 = swd.pop()!.average;
  return { count, points: sampled.map((s, i) => ({ step: s.step, swd: swd[i].average })), reals2 };
}
