/**
 * Device-efficient decoders by condense -> prune -> distill ("Towards Device Efficient
 * Conditional Image Generation", 2022), for the decoder of models/slim_decoder.ts:
 *
 * 1. condense: fine-tune the decoder with a per-channel scale after each hidden conv (init 1)
 *    and an L1 penalty on the scales, so unimportant channels are driven towards zero. The
 *    scales get their own, faster optimizer; the weights a slower one (or none), because a conv
 *    can otherwise undo the shrinking by growing its filters.
 * 2. prune: drop the channels with the smallest |scale| (one global threshold, at least
 *    `minChannels` per conv), chosen as the most pruning whose PSNR loss on a calibration set
 *    stays within the target (or a channel budget), and fold the kept scales into the weights:
 *    smaller tensors, not masks.
 * 3. distill: fine-tune the pruned student from the condensed teacher with a pixel loss plus
 *    feature matching of every hidden activation through a 1x1 adapter (student width ->
 *    teacher width, initialised to pick the retained channels, then learnt).
 *
 * One step counter runs through both training phases; checkpoints resume either phase exactly.
 */
import * as tf from "@tensorflow/tfjs";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import type { NamedArray } from "../nn/tensor_file.ts";
import {
  hiddenLayers,
  pruneDecoder,
  slimDecode,
  type SlimDecoderConfig,
  slimForward,
} from "../models/slim_decoder.ts";
import { Adam } from "./adam.ts";
import {
  type CheckpointHooks,
  DivergenceError,
  packState,
  type Stateful,
  unpackState,
} from "./checkpoint_state.ts";
import { mapBatches, psnr } from "./autoencoder.ts";

/** Codes and what a decoder should make of them, in memory (NHWC floats). */
export interface CodeSet {
  codes: Float32Array;
  codeShape: [number, number, number];
  /** What the reconstruction losses aim at: the teacher's outputs, or the original images. */
  targets: Float32Array;
  imageShape: [number, number, number];
}

/** Held-out material for choosing (and reporting) the pruning: codes, originals, teacher outputs. */
export interface Calibration {
  codes: Float32Array;
  codeShape: [number, number, number];
  originals: Float32Array;
  /** The uncompressed teacher's decodes of `codes`. */
  reference: Float32Array;
}

/** Keep channels until the PSNR loss reaches `maxPsnrLossDb`, or keep a fraction of them. */
export type CompressTarget = { maxPsnrLossDb: number } | { keepFraction: number };

export interface CompressOptions {
  /** The trained decoder's weights (`dec.*`). */
  teacher: Record<string, NamedArray>;
  config: SlimDecoderConfig;
  train: CodeSet;
  calibration: Calibration;
  target: CompressTarget;
  /** Fewest channels any hidden conv keeps. */
  minChannels?: number;
  condenseSteps: number;
  distillSteps: number;
  batch: number;
  seed: number;
  /** Learning rate of the scales during condensation. */
  lr?: number;
  /** Learning rate of the student and its adapters during distillation. */
  distillLr?: number;
  /** Learning rate of the weights during condensation (0 freezes them). */
  weightLr?: number;
  /** Weight of the L1 penalty (sum of |scale| over all hidden channels). */
  l1?: number;
  /** Weight of the feature-matching loss (mean over hidden layers of the adapted MSE). */
  featureWeight?: number;
  checkpoint?: CheckpointHooks;
  onProgress?: (
    step: number,
    total: number,
    phase: "condense" | "distill",
    losses: Record<string, number>,
  ) => void;
}

export interface CompressResult {
  /** Condensed teacher weights (unfolded) and its scales, per hidden conv. */
  condensed: { arrays: Record<string, NamedArray>; scales: Float32Array[] };
  /** Kept output channels of each hidden conv. */
  keep: number[][];
  /** The pruned, scale-folded decoder before distillation. */
  pruned: { arrays: Record<string, NamedArray>; config: SlimDecoderConfig };
  /** The pruned decoder after distillation: the result. */
  student: { arrays: Record<string, NamedArray>; config: SlimDecoderConfig };
  /** The prune counts tried while choosing the threshold and their calibration PSNR loss. */
  selection: { pruned: number; lossDb: number }[];
  /** |scale| threshold: channels at or below it were removed (0 when none was). */
  threshold: number;
  history: Record<string, number[]>;
}

/** Rows of minibatch `step`: epoch-wise seeded permutations, a pure function of (seed, step). */
export function batchRows(n: number, batch: number, seed: number, step: number): number[] {
  const rows: number[] = [];
  let perm: Uint32Array | null = null, permEpoch = -1;
  for (let j = 0; j < batch; j++) {
    const flat = step * batch + j, epoch = Math.floor(flat / n);
    if (epoch !== permEpoch) {
      perm = Uint32Array.from({ length: n }, (_, i) => i);
      new Rng(seed * 1000003 + epoch).shuffle(perm);
      permEpoch = epoch;
    }
    rows.push(perm![flat % n]);
  }
  return rows;
}

function gather(data: Float32Array, per: number, rows: number[]): Float32Array {
  const out = new Float32Array(rows.length * per);
  rows.forEach((r, j) => out.set(data.subarray(r * per, (r + 1) * per), j * per));
  return out;
}

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Decodes every code (in batches of 64) through a slim decoder. */
export function decodeAll(
  p: Params,
  cfg: SlimDecoderConfig,
  codes: Float32Array,
  codeShape: [number, number, number],
  scales?: Params,
): Float32Array {
  return mapBatches(codes, codeShape, 64, (z) => slimDecode(p, cfg, z, { scales })).data;
}

/** A slim decoder's parameter store from arrays (not trainable unless asked). */
export function paramsFrom(arrays: Record<string, NamedArray>, trainable = false): Params {
  const p = new Params(new Rng(0), trainable);
  p.loadArrays(arrays);
  return p;
}

/** PSNR lost against the originals relative to the teacher's decodes (positive = worse). */
export function psnrLossDb(cal: Calibration, decoded: Float32Array): number {
  return psnr(cal.reference, cal.originals) - psnr(decoded, cal.originals);
}

/**
 * Kept channels after removing the `count` smallest |scale| over all hidden convs (ties: earlier
 * layer, lower channel first), never leaving a conv with fewer than `minChannels`.
 */
export function keepAfterPruning(
  scales: Float32Array[],
  count: number,
  minChannels = 1,
): { keep: number[][]; threshold: number } {
  const order: { l: number; c: number; a: number }[] = [];
  scales.forEach((s, l) => s.forEach((v, c) => order.push({ l, c, a: Math.abs(v) })));
  order.sort((x, y) => x.a - y.a || x.l - y.l || x.c - y.c);
  const left = scales.map((s) => s.length);
  const dropped = scales.map((s) => new Uint8Array(s.length));
  let removed = 0, threshold = 0;
  for (const e of order) {
    if (removed >= count) break;
    if (left[e.l] <= Math.min(minChannels, scales[e.l].length)) continue;
    dropped[e.l][e.c] = 1;
    left[e.l]--;
    removed++;
    threshold = e.a;
  }
  const keep = scales.map((s, l) => [...s.keys()].filter((c) => !dropped[l][c]));
  return { keep, threshold };
}

/** How many channels can go at most under the per-conv minimum. */
export function prunable(channels: number[], minChannels = 1): number {
  return channels.reduce((a, c) => a + c - Math.min(minChannels, c), 0);
}

/**
 * The prune count for the target: a channel budget directly, or the largest count whose pruned
 * (folded, undistilled) decoder loses at most `maxPsnrLossDb` on the calibration set, by binary
 * search over the count (the loss is taken to grow with the count; every probe is recorded).
 */
export function choosePruneCount(
  weights: Record<string, NamedArray>,
  scales: Float32Array[],
  cfg: SlimDecoderConfig,
  cal: Calibration,
  target: CompressTarget,
  minChannels = 1,
): { count: number; selection: { pruned: number; lossDb: number }[] } {
  const max = prunable(cfg.channels, minChannels);
  if ("keepFraction" in target) {
    const total = cfg.channels.reduce((a, b) => a + b, 0);
    const count = Math.min(max, Math.max(0, total - Math.round(target.keepFraction * total)));
    return { count, selection: [] };
  }
  const selection: { pruned: number; lossDb: number }[] = [];
  const loss = (count: number) => {
    const { keep } = keepAfterPruning(scales, count, minChannels);
    const pr = pruneDecoder(weights, cfg, keep, scales);
    const p = paramsFrom(pr.arrays);
    const l = psnrLossDb(cal, decodeAll(p, pr.config, cal.codes, cal.codeShape));
    p.dispose();
    selection.push({ pruned: count, lossDb: l });
    return l;
  };
  let lo = 0, hi = max; // invariant: lo fits (or is 0), everything above hi does not
  if (loss(hi) <= target.maxPsnrLossDb) return { count: hi, selection };
  hi--;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (loss(mid) <= target.maxPsnrLossDb) lo = mid;
    else hi = mid - 1;
  }
  return { count: lo, selection };
}

/** The 1x1 adapters of distillation, initialised to select the kept channels of each layer. */
export function selectionAdapters(keep: number[][], teacherChannels: number[], names: string[]) {
  const arrays: Record<string, NamedArray> = {};
  keep.forEach((k, i) => {
    const ct = teacherChannels[i];
    const data = new Float32Array(k.length * ct);
    k.forEach((c, j) => (data[j * ct + c] = 1));
    arrays[`adapt.${names[i]}.w`] = { shape: [1, 1, k.length, ct], data };
  });
  return arrays;
}

function reconLoss(out: tf.Tensor, target: tf.Tensor): tf.Scalar {
  const d = tf.sub(out, target);
  return tf.add(tf.mean(tf.abs(d)), tf.mean(tf.square(d))) as tf.Scalar;
}

function scalesOf(s: Params, names: string[]): Float32Array[] {
  return names.map((n) => s.vars.get(`${n}.s`)!.dataSync() as Float32Array).map((a) =>
    Float32Array.from(a)
  );
}

function stores(list: Record<string, Stateful | null>): Record<string, Stateful> {
  return Object.fromEntries(Object.entries(list).filter(([, v]) => v)) as Record<
    string,
    Stateful
  >;
}

export async function compressDecoder(o: CompressOptions): Promise<CompressResult> {
  const cfg = o.config;
  const names = hiddenLayers(cfg.levels);
  const lr = o.lr ?? 1e-2;
  const weightLr = o.weightLr ?? 1e-4;
  const distillLr = o.distillLr ?? 1e-3;
  const l1 = o.l1 ?? 1e-3;
  const featureWeight = o.featureWeight ?? 1;
  const minChannels = o.minChannels ?? 1;
  const total = o.condenseSteps + o.distillSteps;
  const n = o.train.codes.length / prod(o.train.codeShape);
  const perCode = prod(o.train.codeShape), perImage = prod(o.train.imageShape);
  const batchOf = (step: number) => {
    const rows = batchRows(n, o.batch, o.seed, step);
    return {
      z: tf.tensor4d(gather(o.train.codes, perCode, rows), [o.batch, ...o.train.codeShape]),
      y: tf.tensor4d(gather(o.train.targets, perImage, rows), [o.batch, ...o.train.imageShape]),
    };
  };
  const adam = (rate: number) => new Adam({ lr: rate, beta1: 0.9, beta2: 0.99, eps: 1e-8 });

  // Condensed teacher: weights W and scales S (created at 1 by a first forward).
  const W = paramsFrom(o.teacher, true);
  const S = new Params(new Rng(0), true);
  tf.tidy(() => slimForward(W, cfg, tf.zeros([1, ...o.train.codeShape]), { scales: S }));
  const optW = adam(weightLr), optS = adam(lr);
  let student: Params | null = null, adapters: Params | null = null;
  let optSt: Adam | null = null, optA: Adam | null = null;
  let keep: number[][] | null = null;
  let selection: { pruned: number; lossDb: number }[] = [];
  let threshold = 0;
  let pruned: CompressResult["pruned"] | null = null;
  // Per phase: condense (total loss, reconstruction, sum |scale|), distill (total, pixel, feature).
  const history: Record<string, number[]> = Object.fromEntries(
    ["condenseStep", "condenseLoss", "rec", "l1", "distillStep", "distillLoss", "pixel", "feature"]
      .map((k) => [k, []]),
  );
  const parts = () => stores({ W, S, optW, optS, St: student, A: adapters, optSt, optA });

  /** Prune the condensed teacher; set up the student and its adapters. */
  const prune = (chosen?: { keep: number[][]; selection: typeof selection; threshold: number }) => {
    const scales = scalesOf(S, names);
    const weights = W.toArrays();
    if (chosen) ({ keep, selection, threshold } = chosen);
    else {
      const c = choosePruneCount(weights, scales, cfg, o.calibration, o.target, minChannels);
      selection = c.selection;
      ({ keep, threshold } = keepAfterPruning(scales, c.count, minChannels));
    }
    pruned = pruneDecoder(weights, cfg, keep!, scales);
    student = paramsFrom(pruned.arrays, true);
    adapters = paramsFrom(selectionAdapters(keep!, cfg.channels, names), true);
    optSt = adam(distillLr);
    optA = adam(distillLr);
  };

  let start = 0, lastCheckpoint: number | null = null;
  if (o.checkpoint?.resume) {
    const s = o.checkpoint.resume;
    const extra = s.extra as
      | { keep?: number[][]; selection?: typeof selection; threshold?: number }
      | undefined;
    unpackState(s, stores({ W, S, optW, optS }));
    if (extra?.keep) {
      prune({
        keep: extra.keep,
        selection: extra.selection ?? [],
        threshold: extra.threshold ?? 0,
      });
      unpackState(s, stores({ St: student, A: adapters, optSt, optA }));
    }
    Object.assign(history, s.history);
    start = s.step;
    lastCheckpoint = s.step;
  }

  for (let step = start; step < total; step++) {
    const { z, y } = batchOf(step);
    const losses: Record<string, number> = {};
    // Learning rates decay linearly to 0 over each phase: the scales of unused channels then
    // settle at ~0 instead of oscillating around it, and the student ends on a low-noise step.
    const decay = step < o.condenseSteps
      ? 1 - step / o.condenseSteps
      : 1 - (step - o.condenseSteps) / o.distillSteps;
    if (step < o.condenseSteps) {
      optW.opts.lr = weightLr * decay;
      optS.opts.lr = lr * decay;
      const vars = weightLr > 0 ? [...W.list(), ...S.list()] : S.list();
      const r = tf.variableGrads(() => {
        const rec = reconLoss(slimForward(W, cfg, z, { scales: S }).out, y);
        const pen = tf.addN(S.list().map((s) => tf.sum(tf.abs(s))));
        losses.rec = rec.dataSync()[0];
        losses.l1 = pen.dataSync()[0];
        return tf.add(rec, tf.mul(pen, l1)) as tf.Scalar;
      }, vars);
      if (weightLr > 0) optW.apply(W, r.grads);
      optS.apply(S, r.grads);
      losses.loss = (await r.value.data())[0];
      tf.dispose([r.value, ...Object.values(r.grads)]);
    } else {
      if (!student) prune();
      optSt!.opts.lr = optA!.opts.lr = distillLr * decay;
      const t = tf.tidy(() => {
        const f = slimForward(W, cfg, z, { scales: S });
        return [f.out, ...f.features];
      });
      const st = student!, ad = adapters!;
      const r = tf.variableGrads(() => {
        const f = slimForward(st, pruned!.config, z);
        const pix = reconLoss(f.out, t[0]);
        const feats = f.features.map((h, i) => {
          const a = ad.get(`adapt.${names[i]}.w`, [1, 1, h.shape[3], cfg.channels[i]], {
            kind: "const",
            value: 0,
          }) as tf.Variable<tf.Rank.R4>;
          return tf.mean(tf.square(tf.sub(tf.conv2d(h, a, 1, "same"), t[i + 1])));
        });
        const feat = tf.div(tf.addN(feats), feats.length) as tf.Scalar;
        losses.pixel = pix.dataSync()[0];
        losses.feature = feat.dataSync()[0];
        return tf.add(pix, tf.mul(feat, featureWeight)) as tf.Scalar;
      }, [...st.list(), ...ad.list()]);
      optSt!.apply(st, r.grads);
      optA!.apply(ad, r.grads);
      losses.loss = (await r.value.data())[0];
      tf.dispose([r.value, ...Object.values(r.grads), ...t]);
    }
    tf.dispose([z, y]);
    if (!Number.isFinite(losses.loss)) throw new DivergenceError(step, lastCheckpoint, losses);
    const keys = step < o.condenseSteps
      ? { condenseStep: step + 1, condenseLoss: losses.loss, rec: losses.rec, l1: losses.l1 }
      : {
        distillStep: step + 1,
        distillLoss: losses.loss,
        pixel: losses.pixel,
        feature: losses.feature,
      };
    for (const [k, v] of Object.entries(keys)) history[k].push(v);
    o.onProgress?.(step + 1, total, step < o.condenseSteps ? "condense" : "distill", losses);
    if (o.checkpoint && (step + 1) % o.checkpoint.every === 0 && step + 1 < total) {
      const state = packState(parts(), step + 1, new Rng(o.seed).state(), history);
      if (keep) state.extra = { keep, selection, threshold };
      await o.checkpoint.save(step + 1, state);
      lastCheckpoint = step + 1;
    }
  }
  if (!student) prune(); // no distillation steps: the pruned decoder is the result
  const condensed = { arrays: W.toArrays(), scales: scalesOf(S, names) };
  const result: CompressResult = {
    condensed,
    keep: keep!,
    pruned: pruned!,
    student: { arrays: student!.toArrays(), config: pruned!.config },
    selection,
    threshold,
    history,
  };
  for (const x of [W, S, student, adapters, optW, optS, optSt, optA]) x?.dispose();
  return result;
}

/** Milliseconds per batch (median of `reps` after one warm-up) and images per second. */
export function decoderLatency(
  p: Params,
  cfg: SlimDecoderConfig,
  codeShape: [number, number, number],
  batch: number,
  reps = 5,
): { msPerBatch: number; imagesPerSecond: number } {
  const z = tf.tensor4d(new Rng(7).normalArray(batch * prod(codeShape)), [batch, ...codeShape]);
  const times: number[] = [];
  for (let i = 0; i <= reps; i++) {
    const t0 = performance.now();
    const out = slimDecode(p, cfg, z);
    out.dataSync();
    out.dispose();
    if (i > 0) times.push(performance.now() - t0);
  }
  z.dispose();
  times.sort((a, b) => a - b);
  const ms = times[Math.floor(times.length / 2)];
  return { msPerBatch: ms, imagesPerSecond: (1000 * batch) / ms };
}
