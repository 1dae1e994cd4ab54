/**
 * Stage `evaluate`: quality metrics of the generated images, each next to the real-vs-real
 * "Reals2" baseline (two disjoint halves of the real set), written to metrics.json:
 *
 * - SWD (ProGAN's sliced Wasserstein distance) and MS-SSIM of consecutive pairs (diversity);
 * - FID and KID on pytorch-fid's Inception-v3 pool3 features, when its weights are available:
 *   the `inceptionWeights` path, else `pt_inception-2015-12-05-6726825d.pth` in the cache dir
 *   (`$GANFLOW_CACHE`, else `~/.cache/ganflow`). The weights file is then an input of the stage,
 *   so its content digest is part of the cache key (a new file re-runs evaluate, an unchanged
 *   one is never re-hashed thanks to the stat cache), and its SHA-256 is recorded in
 *   metrics.json. Without it, evaluate tries the published URL when reachable (downloading into
 *   the cache dir; the next run then re-keys on the file and computes once more), else notes
 *   where to put the file and keeps SWD and MS-SSIM.
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
import { readAttributes } from "../data/zarr_io.ts";
import { type ImageSet, slicedWassersteinDistance } from "../metrics/swd.ts";
import { msSsimConsecutivePairs } from "../metrics/ms_ssim.ts";
import {
  defaultInceptionPath,
  disposeInception,
  downloadInceptionWeights,
  extractFeatures,
  FEATURE_DIM,
  INCEPTION_SHA256_PREFIX,
  loadInception,
  missingWeightsMessage,
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

const params = z.object({
  count: z.number().int().min(16).default(1000),
  seed: z.number().int().default(4),
  /** Path of the FID Inception weights; unset: the cache-dir file when present. */
  inceptionWeights: z.string().nullable().default(null),
  /** Without weights: try the published URL (only where it is reachable). */
  downloadInception: z.boolean().default(true),
  /** Inception batch size (memory: ~40 MB of activations per image at 299x299). */
  fidBatch: z.number().int().min(1).default(16),
  kidSubsets: z.number().int().min(1).default(100),
  kidSubsetSize: z.number().int().min(2).default(1000),
  /** Images per point of the SWD-over-training curve; 0 turns the curve off. */
  curveCount: z.number().int().min(0).default(256),
});

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Weights the key is made of: the explicit path, else the cache-dir file if it exists now. */
function weightsInput(p: z.infer<typeof params>): string | null {
  if (p.inceptionWeights) return p.inceptionWeights;
  const cached = defaultInceptionPath();
  return isFile(cached) ? cached : null;
}

/** uint8-quantised copy of [-1, 1] images, in [0, 255] (SWD, MS-SSIM) or back in [-1, 1]. */
function quantise(x: Float32Array, to: "bytes" | "unit"): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const b = Math.min(255, Math.max(0, Math.round((x[i] + 1) * 127.5)));
    out[i] = to === "bytes" ? b : b / 127.5 - 1;
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
    out.set(imgs.dataSync() as Float32Array, i * shape[0] * shape[1] * shape[2]);
    imgs.dispose();
  }
  g.dispose();
  dec?.dispose();
  return { data: out!, shape };
}

const swdLevels = (r: ReturnType<typeof slicedWassersteinDistance>) =>
  Object.fromEntries(r.levels.map((l) => [String(l.resolution), l.swd]));

export const evaluateStage = defineStage({
  name: "evaluate",
  module: import.meta.url,
  params,
  inputs: (p, paramsOf): Record<string, InputRef> => {
    const latent = (paramsOf("train-generator") as { space: string }).space === "latent";
    const weights = weightsInput(p);
    return {
      samples: "sample.samples",
      dataset: "prepare.dataset",
      ...(p.curveCount > 0
        ? {
          snapshots: "train-generator.snapshots",
          generator: "train-generator.model",
          ...(latent ? { autoencoder: "train-autoencoder.model" } : {}),
        }
        : {}),
      ...(weights ? { inception: { path: weights } } : {}),
    };
  },
  outputs: { metrics: "metrics.json" },
  uses: ["backend"],
  async run(ctx) {
    await startBackend(ctx);
    const p = ctx.params;
    const res = (await readAttributes(ctx.inputs.dataset, "")).resolution as number;
    const real = await readFloatArray(ctx.inputs.dataset, `images/${res}`);
    const fake = await readFloatArray(ctx.inputs.samples, "images");
    const [, h, w, c] = real.shape;
    if (fake.shape[1] !== h || fake.shape[2] !== w || fake.shape[3] !== c) {
      throw new Error(`samples [${fake.shape}] and real images [${real.shape}] differ in size`);
    }
    const per = h * w * c;
    const n = Math.min(p.count, fake.shape[0], Math.floor(real.shape[0] / 2));
    if (n < 2) {
      throw new Error(`evaluate needs at least 4 real images, the dataset has ${real.shape[0]}`);
    }
    const realSet = (start: number, count = n): ImageSet => ({
      data: real.data.subarray(start * per, (start + count) * per),
      n: count,
      h,
      w,
      c,
    });
    const notes: string[] = [];
    const steps = 4 + (p.curveCount > 0 ? 1 : 0);
    ctx.progress(0, steps, "SWD model vs real");
    const realA = realSet(0), realB = realSet(n);
    const fakeBytes = quantise(fake.data.subarray(0, n * per), "bytes");
    const fakeSet: ImageSet = { data: fakeBytes, n, h, w, c };
    const model = slicedWassersteinDistance(realA, fakeSet, { seed: p.seed });
    ctx.progress(1, steps, "SWD real vs real");
    const reals2 = slicedWassersteinDistance(realA, realB, { seed: p.seed });
    ctx.progress(2, steps, "MS-SSIM");
    // ProGAN's diversity score: MS-SSIM of consecutive pairs (lower = more diverse).
    const msModel = msSsimConsecutivePairs(fakeSet);
    const msReal = msSsimConsecutivePairs(realA);

    ctx.progress(3, steps, "FID/KID");
    let fid: { model: number; reals2: number } | null = null;
    let kid:
      | { model: { mean: number; std: number }; reals2: { mean: number; std: number } }
      | null = null;
    let inception: { path: string; sha256: string; published: boolean } | null = null;
    let weights = ctx.inputs.inception ?? null;
    if (!weights && p.downloadInception) {
      const dest = defaultInceptionPath();
      if (await downloadInceptionWeights(dest, { log: ctx.log })) weights = dest;
    }
    if (!weights) {
      notes.push(`FID/KID not computed: ${missingWeightsMessage([defaultInceptionPath()])}`);
    } else {
      const loaded = await loadInception(weights);
      const published = loaded.sha256.startsWith(INCEPTION_SHA256_PREFIX);
      inception = { path: weights, sha256: loaded.sha256, published };
      if (!published) {
        notes.push(
          `the Inception weights at ${weights} are not the published pt_inception file ` +
            `(SHA-256 ${loaded.sha256.slice(0, 16)}...): FID/KID are not comparable with papers.`,
        );
      }
      const total = 3 * n;
      let done = 0;
      const features = (data: Float32Array) =>
        extractFeatures(loaded.net, data, [n, h, w, c], {
          batch: p.fidBatch,
          onProgress: (k) => ctx.progress(done + k, total, "Inception features"),
        });
      const unit = (bytes: Float32Array) => bytes.map((v) => v / 127.5 - 1);
      const fFake = features(unit(fakeBytes));
      done += n;
      const fRealA = features(unit(realA.data as Float32Array));
      done += n;
      const fRealB = features(unit(realB.data as Float32Array));
      disposeInception(loaded.net);
      const d = FEATURE_DIM;
      fid = {
        model: fidFromFeatures(fFake, n, fRealA, n, d),
        reals2: fidFromFeatures(fRealB, n, fRealA, n, d),
      };
      const kidOpts = { subsets: p.kidSubsets, subsetSize: p.kidSubsetSize, seed: p.seed };
      kid = {
        model: kidFromFeatures(fFake, fRealA, d, kidOpts),
        reals2: kidFromFeatures(fRealB, fRealA, d, kidOpts),
      };
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
      ctx.progress(4, steps, "SWD over training");
      curve = await swdCurve(ctx, p, realSet, Math.floor(real.shape[0] / 2), res);
    }
    ctx.progress(steps, steps);
    const metrics = {
      images: n,
      resolution: res,
      swd: swdLevels(model),
      swdAverage: model.average,
      msSsim: msModel,
      ...(fid ? { fid: fid.model, kid: kid!.model } : {}),
      reals2: {
        msSsim: msReal,
        swd: swdLevels(reals2),
        swdAverage: reals2.average,
        ...(fid ? { fid: fid.reals2, kid: kid!.reals2 } : {}),
      },
      ...(inception ? { inception } : {}),
      ...(curve ? { curve } : {}),
      notes,
    };
    await Deno.writeTextFile(ctx.outputs.metrics, JSON.stringify(metrics, null, 2));
    ctx.log(
      `SWD x1e3: model ${model.average.toFixed(2)}, real-vs-real ${reals2.average.toFixed(2)}` +
        (fid ? `; FID model ${fid.model.toFixed(2)}, real-vs-real ${fid.reals2.toFixed(2)}` : ""),
    );
    tf.disposeVariables();
    return {
      swd: model.average,
      reals2Swd: reals2.average,
      msSsim: msModel,
      reals2MsSsim: msReal,
      ...(fid
        ? {
          fid: fid.model,
          reals2Fid: fid.reals2,
          kid: kid!.model.mean,
          reals2Kid: kid!.reals2.mean,
          inceptionSha256: inception!.sha256,
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
  realSet: (start: number, count?: number) => ImageSet,
  realHalf: number,
  res: number,
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
    const imgs = await generateImages(f.path, ae, count, p.seed ^ 0x5eed);
    if (imgs.shape[0] !== res) {
      ctx.log(`snapshot at step ${f.step} makes ${imgs.shape[0]}px images; skipped`);
      continue;
    }
    const set: ImageSet = {
      data: quantise(imgs.data, "bytes"),
      n: count,
      h: imgs.shape[0],
      w: imgs.shape[1],
      c: imgs.shape[2],
    };
    points.push({
      step: f.step,
      swd: slicedWassersteinDistance(realA, set, { seed: p.seed }).average,
    });
  }
  ae?.params.dispose();
  // The real-vs-real level at this image count, for scale.
  const realB = realSet(realHalf, count);
  const reals2 = slicedWassersteinDistance(realA, realB, { seed: p.seed }).average;
  return { count, points, reals2 };
}
