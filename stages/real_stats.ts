/**
 * Stage `real-stats`: everything `evaluate` needs from the real images alone, computed once per
 * dataset and shared by every generator evaluated against it (each cell of a matrix run, each
 * re-trained model). The real images are drawn into two disjoint random sets of `count`
 * (`realSetIndices`): A is what samples are compared with; B gives the real-vs-real "Reals2"
 * baseline at the same size. Writes a Zarr store `stats` whose attributes hold the
 * protocol (count, seed, the sets' index digest, KID subsets, the Inception weights' SHA-256) and
 * the Reals2 values, and,
 * when FID's Inception weights are available, the pool3 features of A and B (`features/a`,
 * `features/b`, [count, 2048]): 2 of every 3 Inception passes of an evaluation.
 *
 * FID/KID weights: the `inceptionWeights` path, else `pt_inception-2015-12-05-6726825d.pth` in
 * the cache dir (`$GANFLOW_CACHE`, else `~/.cache/ganflow`). The file is then an input, so its
 * content digest is part of the key. Without it, the stage tries the published URL when
 * reachable (the next run re-keys on the downloaded file and computes once more), else notes
 * where to put the file; SWD and MS-SSIM need no weights.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import type { InputRef } from "../pipeline/stage.ts";
import { readFloatArray, writeFloatArray } from "../data/zarr_arrays.ts";
import { createGroup, readAttributes } from "../data/zarr_io.ts";
import { type ImageSet, slicedWassersteinDistance, type SwdResult } from "../metrics/swd.ts";
import { msSsimConsecutivePairs } from "../metrics/ms_ssim.ts";
import {
  disposeInception,
  extractFeatures,
  FEATURE_DIM,
  loadInception,
} from "../metrics/inception.ts";
import {
  defaultInceptionPath,
  downloadInceptionWeights,
  INCEPTION_SHA256_PREFIX,
  isFile,
  missingWeightsMessage,
} from "../metrics/inception_weights.ts";
import { fidFromFeatures } from "../metrics/fid.ts";
import { kidFromFeatures } from "../metrics/kid.ts";
import { tensorStage } from "./tensor_stage.ts";
import { toUnitRange } from "./prepared_dataset.ts";
import { Rng } from "../nn/rng.ts";

const params = z.object({
  /** Images in each real set (A, and B for Reals2); at most half the dataset is used. */
  count: z.number().int().min(4).default(1000),
  /** Seeds SWD's patches and directions and KID's subsets, here and in `evaluate`. */
  seed: z.number().int().default(4),
  /** Path of the FID Inception weights; unset: the cache-dir file when present. */
  inceptionWeights: z.string().nullable().default(null),
  /** Without weights: try the published URL (only where it is reachable). */
  downloadInception: z.boolean().default(true),
  /** Inception batch size (memory: ~40 MB of activations per image at 299x299). */
  fidBatch: z.number().int().min(1).default(16),
  kidSubsets: z.number().int().min(1).default(100),
  kidSubsetSize: z.number().int().min(2).default(1000),
});

export type RealStatsParams = z.infer<typeof params>;

/** Recorded with the stats, so a reader knows which images were compared. */
const SETS_RULE = "permutation of all images by nn/rng.ts Rng(seed ^ 0x5e75).shuffle; " +
  "A = first count of its first half, B = first count of its second half";

/** What `stats` records besides the feature arrays (the store's root attributes). */
export interface RealStats {
  resolution: number;
  /** Images in A and in B. */
  count: number;
  seed: number;
  /** How sets A and B were drawn (`realSetIndices`), and the digest of their indices. */
  sets: { rule: string; sha256: string };
  fidBatch: number;
  kid: { subsets: number; subsetSize: number };
  /** The weights the features came from; null when FID/KID could not be computed. */
  inception: { path: string; sha256: string; published: boolean } | null;
  reals2: {
    swd: Record<string, number>;
    swdAverage: number;
    /** MS-SSIM of A's consecutive pairs: the real side of the diversity score. */
    msSsim: number;
    fid?: number;
    kid?: { mean: number; std: number };
  };
  notes: string[];
}

/** Weights the key is made of: the explicit path, else the cache-dir file if it exists now. */
function weightsInput(p: RealStatsParams): string | null {
  if (p.inceptionWeights) return p.inceptionWeights;
  const cached = defaultInceptionPath();
  return isFile(cached) ? cached : null;
}

/**
 * The protocol's real sets: a permutation of the whole dataset drawn from `seed`, split into two
 * halves; set A is a prefix of the first half, B of the second, so every size of either set
 * (real-stats' `count`, evaluate's fewer samples, the training curve's) is a random draw from
 * the whole dataset. Contiguous blocks would not be: a dataset stored in class order, or
 * recorded over time, has unlike blocks, which inflates Reals2.
 */
export function realSetIndices(n: number, seed: number): { a: Uint32Array; b: Uint32Array } {
  const perm = Uint32Array.from({ length: n }, (_, i) => i);
  new Rng(seed ^ 0x5e75).shuffle(perm);
  const half = Math.floor(n / 2);
  return { a: perm.subarray(0, half), b: perm.subarray(half, 2 * half) };
}

/** SHA-256 of the first `count` indices of A then B (uint32 little-endian): the protocol's record. */
export function setsDigest(sets: { a: Uint32Array; b: Uint32Array }, count: number): string {
  const h = createHash("sha256");
  // A copy of each prefix, so its buffer holds exactly those indices.
  for (const s of [sets.a, sets.b]) h.update(new Uint8Array(s.slice(0, count).buffer));
  return h.digest("hex");
}

/**
 * The real images of a prepared dataset at its full resolution, values in [0, 255], and its two
 * real sets for `seed`: `set("a", k)` gathers A's first k images (at most `half`).
 */
export async function readRealImages(dataset: string, seed: number) {
  const res = (await readAttributes(dataset, "")).resolution as number;
  const real = await readFloatArray(dataset, `images/${res}`);
  const [n, h, w, c] = real.shape;
  const per = h * w * c;
  const sets = realSetIndices(n, seed);
  const set = (which: "a" | "b", count: number): ImageSet => {
    const idx = sets[which];
    if (count > idx.length) {
      throw new Error(`set ${which} holds ${idx.length} images, not ${count}`);
    }
    const data = new Float32Array(count * per);
    for (let i = 0; i < count; i++) {
      data.set(real.data.subarray(idx[i] * per, (idx[i] + 1) * per), i * per);
    }
    return { data, n: count, h, w, c };
  };
  return { resolution: res, n, h, w, c, half: sets.a.length, sets, set };
}

export const swdLevels = (r: SwdResult) =>
  Object.fromEntries(r.levels.map((l) => [String(l.resolution), l.swd]));

export const realStatsStage = tensorStage({
  name: "real-stats",
  module: import.meta.url,
  params,
  inputs: (p): Record<string, InputRef> => {
    const weights = weightsInput(p);
    return { dataset: "prepare.dataset", ...(weights ? { inception: { path: weights } } : {}) };
  },
  outputs: { stats: "stats.zarr" },
  async run(ctx) {
    const p = ctx.params;
    const real = await readRealImages(ctx.inputs.dataset, p.seed);
    const n = Math.min(p.count, real.half);
    if (n < 2) {
      throw new Error(`real-stats needs at least 4 real images, the dataset has ${real.n}`);
    }
    const notes: string[] = [];
    if (n < p.count) notes.push(`the dataset has ${real.n} images: ${n} per real set`);
    const a = real.set("a", n), b = real.set("b", n);
    const steps = 3;
    ctx.progress(0, steps, "SWD real vs real");
    const swd = await slicedWassersteinDistance(a, b, { seed: p.seed });
    ctx.progress(1, steps, "MS-SSIM");
    const msSsim = msSsimConsecutivePairs(a);

    ctx.progress(2, steps, "Inception features");
    let weights = ctx.inputs.inception ?? null;
    if (!weights && p.downloadInception) {
      const dest = defaultInceptionPath();
      if (await downloadInceptionWeights(dest, { log: ctx.log })) weights = dest;
    }
    let inception: RealStats["inception"] = null;
    let features: { a: Float32Array; b: Float32Array } | null = null;
    if (!weights) {
      notes.push(`FID/KID not computed: ${missingWeightsMessage([defaultInceptionPath()])}`);
    } else {
      const loaded = await loadInception(weights);
      const published = loaded.sha256.startsWith(INCEPTION_SHA256_PREFIX);
      inception = { path: weights, sha256: loaded.sha256, published };
      const extract = (set: ImageSet, done: number) =>
        extractFeatures(loaded.net, toUnitRange(set.data), [n, set.h, set.w, set.c], {
          batch: p.fidBatch,
          onProgress: (k) => ctx.progress(done + k, 2 * n, "Inception features"),
        });
      features = { a: extract(a, 0), b: extract(b, n) };
      disposeInception(loaded.net);
    }
    const kid = { subsets: p.kidSubsets, subsetSize: p.kidSubsetSize };
    const stats: RealStats = {
      resolution: real.resolution,
      count: n,
      seed: p.seed,
      sets: { rule: SETS_RULE, sha256: setsDigest(real.sets, n) },
      fidBatch: p.fidBatch,
      kid,
      inception,
      reals2: {
        swd: swdLevels(swd),
        swdAverage: swd.average,
        msSsim,
        ...(features
          ? {
            fid: fidFromFeatures(features.b, n, features.a, n, FEATURE_DIM),
            kid: kidFromFeatures(features.b, features.a, FEATURE_DIM, { ...kid, seed: p.seed }),
          }
          : {}),
      },
      notes,
    };
    const out = ctx.outputs.stats;
    await createGroup(out, "", 3, stats as unknown as Record<string, unknown>);
    if (features) {
      await createGroup(out, "features", 3);
      await writeFloatArray(out, "features/a", features.a, [n, FEATURE_DIM]);
      await writeFloatArray(out, "features/b", features.b, [n, FEATURE_DIM]);
    }
    ctx.progress(steps, steps);
    ctx.log(
      `Reals2 at ${n} images: SWD x1e3 ${swd.average.toFixed(2)}` +
        (stats.reals2.fid !== undefined ? `, FID ${stats.reals2.fid.toFixed(2)}` : ""),
    );
    return {
      images: n,
      reals2Swd: swd.average,
      reals2MsSsim: stats.reals2.msSsim,
      ...(stats.reals2.fid !== undefined ? { reals2Fid: stats.reals2.fid } : {}),
    };
  },
});

/** Reads what `real-stats` wrote: its attributes, and the features when it has them. */
export async function readRealStats(store: string): Promise<
  RealStats & { features: { a: Float32Array; b: Float32Array } | null }
> {
  const stats = (await readAttributes(store, "")) as unknown as RealStats;
  if (!stats.inception) return { ...stats, features: null };
  const [a, b] = await Promise.all(["a", "b"].map((s) => readFloatArray(store, `features/${s}`)));
  return { ...stats, features: { a: a.data, b: b.data } };
}
