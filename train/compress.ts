/**
 * Device-efficient decoders by condense -> prune -> distill ("Towards Device Efficient
 * Conditional Image Generation", 2022), for the decoder of models/slim_decoder.ts:
 *
 * 1. condense: fine-tune the decoder with a per-channel scale after each hidden conv (init 1)
 *    and an L1 penalty on the scales (weighted by what a channel of each conv costs in FLOPs,
 *    by default), reconstructing the teacher's outputs (or the images). The scales get their own,
 *    faster optimizer; the weights a slower one (or none), because a conv can otherwise undo the
 *    shrinking by growing its filters.
 * 2. prune: drop the channels with the smallest |scale| (one global threshold, at least
 *    `minChannels` per conv) and fold the kept scales into the weights: smaller tensors, not
 *    masks. How many: a channel budget, or for a PSNR-loss target the largest count whose
 *    distilled student loses at most the target on a calibration set (binary search; counts the
 *    undistilled pruned network already meets are taken without probing).
 * 3. distill: fine-tune the pruned student with a pixel loss against the original teacher's
 *    outputs (what the loss is measured against) plus feature matching of every hidden
 *    activation of the condensed teacher through a 1x1 adapter (student width -> teacher width,
 *    initialised to pick the retained channels, then learnt). Either source is an option.
 *
 * One step counter runs through all training; checkpoints resume any phase exactly.
 */
import * as tf from "@tensorflow/tfjs";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import type { NamedArray } from "../nn/tensor_file.ts";
import {
  chainChannelCosts,
  channelCosts,
  hiddenLayers,
  pruneDecoder,
  slimChain,
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
import { mapBatchesAsync, psnr } from "./autoencoder.ts";
import { onHost } from "../backend/webgpu/host_read.ts";
import { stateTensors } from "./host_state.ts";

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
  /**
   * Distillation steps of each probe while searching the prune count for a PSNR target; by
   * default `distillSteps`, and the chosen probe's student is then the result.
   */
  probeSteps?: number;
  /** Learning rate of the weights during condensation (0 freezes them). */
  weightLr?: number;
  /** Weight of the L1 penalty (sum of |scale| over all hidden channels). */
  l1?: number;
  /**
   * How the L1 penalty weighs each conv's scales: by what one of its channels costs (normalised
   * to mean 1 over all channels), so the threshold removes expensive channels first at equal
   * importance (a resource-weighted penalty, as in MorphNet): "latency" (default) its
   * multiply-adds as the compiled decoder runs them on `vectorWidth`-wide vectors
   * (`chainChannelCosts`: the channels feeding the 3-channel output conv cost 5x their FLOPs),
   * "flops" its FLOPs; "uniform" weighs all alike, as in network slimming.
   */
  l1Weighting?: "flops" | "latency" | "uniform";
  /** Output channels a CPU conv kernel computes at once, for "latency" weighting (default 16). */
  vectorWidth?: number;
  /** Weight of the feature-matching loss (mean over hidden layers of the adapted MSE). */
  featureWeight?: number;
  /**
   * Whose outputs the student's pixel loss aims at: the original teacher's (what the PSNR loss is
   * measured against; default), or the condensed teacher's.
   */
  pixelsFrom?: "condensed" | "original";
  /**
   * Whose hidden activations the adapted student features match: the condensed teacher's
   * (default; its kept channels are the student's, and carry what the pruned ones lost), or the
   * original's.
   */
  featuresFrom?: "condensed" | "original";
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
  /**
   * Calibration PSNR loss by prune count, as tried while choosing: pruned only (no retraining),
   * and after a probe of `probeSteps` distillation steps.
   */
  selection: {
    prunedOnly: { pruned: number; lossDb: number }[];
    distilled: { pruned: number; lossDb: number }[];
  };
  /** |scale| threshold: channels at or below it were removed (0 when none was). */
  threshold: number;
  /** The result's PSNR loss on the calibration set (what the target was checked on). */
  calibrationLossDb: number;
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
export async function decodeAll(
  p: Params,
  cfg: SlimDecoderConfig,
  codes: Float32Array,
  codeShape: [number, number, number],
  scales?: Params,
): Promise<Float32Array> {
  return (await mapBatchesAsync(codes, codeShape, 64, (z) => slimDecode(p, cfg, z, { scales })))
    .data;
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
export async function choosePruneCount(
  weights: Record<string, NamedArray>,
  scales: Float32Array[],
  cfg: SlimDecoderConfig,
  cal: Calibration,
  target: CompressTarget,
  minChannels = 1,
): Promise<{ count: number; selection: { pruned: number; lossDb: number }[] }> {
  const max = prunable(cfg.channels, minChannels);
  if ("keepFraction" in target) {
    const total = cfg.channels.reduce((a, b) => a + b, 0);
    const count = Math.min(max, Math.max(0, total - Math.round(target.keepFraction * total)));
    return { count, selection: [] };
  }
  const selection: { pruned: number; lossDb: number }[] = [];
  const loss = async (count: number) => {
    const { keep } = keepAfterPruning(scales, count, minChannels);
    const pr = pruneDecoder(weights, cfg, keep, scales);
    const p = paramsFrom(pr.arrays);
    const l = psnrLossDb(cal, await decodeAll(p, pr.config, cal.codes, cal.codeShape));
    p.dispose();
    selection.push({ pruned: count, lossDb: l });
    return l;
  };
  let lo = 0, hi = max; // invariant: lo fits (or is 0), everything above hi does not
  if (await loss(hi) <= target.maxPsnrLossDb) return { count: hi, selection };
  hi--;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (await loss(mid) <= target.maxPsnrLossDb) lo = mid;
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

/** A student being distilled: the pruned decoder, its adapters and their optimizers. */
interface Student {
  keep: number[][];
  config: SlimDecoderConfig;
  pruned: Record<string, NamedArray>;
  p: Params;
  adapters: Params;
  opt: Adam;
  optA: Adam;
}

export async function compressDecoder(o: CompressOptions): Promise<CompressResult> {
  const cfg = o.config;
  const names = hiddenLayers(cfg.levels);
  const lr = o.lr ?? 1e-2;
  const weightLr = o.weightLr ?? 1e-3;
  const distillLr = o.distillLr ?? 3e-3;
  const l1 = o.l1 ?? 3e-3;
  const featureWeight = o.featureWeight ?? 1;
  const minChannels = o.minChannels ?? 1;
  const probeSteps = Math.min(o.probeSteps ?? o.distillSteps, o.distillSteps);
  const C = o.condenseSteps, D = o.distillSteps;
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
  const pixelsFrom = o.pixelsFrom ?? "original", featuresFrom = o.featuresFrom ?? "condensed";
  const original = pixelsFrom === "original" || featuresFrom === "original"
    ? paramsFrom(o.teacher)
    : null;
  const S = new Params(new Rng(0), true);
  tf.tidy(() => slimForward(W, cfg, tf.zeros([1, ...o.train.codeShape]), { scales: S }));
  const optW = adam(weightLr), optS = adam(lr);
  const weighting = o.l1Weighting ?? "latency";
  const [codeH, codeW] = o.train.codeShape;
  const costs = weighting === "latency"
    ? chainChannelCosts(cfg, codeH, codeW, o.vectorWidth)
    : channelCosts(cfg, codeH, codeW);
  const meanCost = costs.reduce((a, c, i) => a + c * cfg.channels[i], 0) /
    cfg.channels.reduce((a, b) => a + b, 0);
  const penaltyWeights = weighting === "uniform"
    ? costs.map(() => 1)
    : costs.map((c) => c / meanCost);
  const history: Record<string, number[]> = Object.fromEntries(
    ["condenseStep", "condenseLoss", "rec", "l1", "distillStep", "distillLoss", "pixel", "feature"]
      .map((k) => [k, []]),
  );
  /** Calibration PSNR loss after `probeSteps` of distillation, by prune count. */
  const probes = new Map<number, number>();
  let final: { keep: number[][]; start: number } | null = null;
  /** With full-length probes: the passing probe with the most channels removed so far. */
  let best: { count: number; keep: number[][]; arrays: Record<string, NamedArray> } | null = null;
  let student: Student | null = null;
  // Every training step (condense, probes, final distillation) advances one counter: it picks
  // the minibatch and names checkpoints, so a resumed run retraces an uninterrupted one.
  let counter = 0, lastCheckpoint: number | null = null;

  const newStudent = (keep: number[][]): Student => {
    const pr = pruneDecoder(W.toArrays(), cfg, keep, scalesOf(S, names));
    return {
      keep,
      config: pr.config,
      pruned: pr.arrays,
      p: paramsFrom(pr.arrays, true),
      adapters: paramsFrom(selectionAdapters(keep, cfg.channels, names), true),
      opt: adam(distillLr),
      optA: adam(distillLr),
    };
  };
  const dropStudent = (st: Student | null) => {
    for (const x of [st?.p, st?.adapters, st?.opt, st?.optA]) x?.dispose();
  };
  const studentParts = (st: Student | null): Record<string, Stateful> =>
    st ? { St: st.p, A: st.adapters, optSt: st.opt, optA: st.optA } : {};
  const save = async () => {
    if (!o.checkpoint) return;
    // GPU backends: the state is read asynchronously first.
    await onHost(stateTensors({ W, S, optW, optS, ...studentParts(student) }));
    const state = packState(
      stores({ W, S, optW, optS, ...studentParts(student) }),
      counter,
      new Rng(o.seed).state(),
      history,
    );
    for (const [k, v] of Object.entries(best?.arrays ?? {})) state.arrays[`Best/${k}`] = v;
    state.extra = {
      probes: [...probes],
      final,
      best: best && { count: best.count, keep: best.keep },
    };
    await o.checkpoint.save(counter, state);
    lastCheckpoint = counter;
  };
  const record = (phase: "condense" | "distill", losses: Record<string, number>) => {
    if (!Number.isFinite(losses.loss)) throw new DivergenceError(counter, lastCheckpoint, losses);
    const keys = phase === "condense"
      ? { condenseStep: counter + 1, condenseLoss: losses.loss, rec: losses.rec, l1: losses.l1 }
      : {
        distillStep: counter + 1,
        distillLoss: losses.loss,
        pixel: losses.pixel,
        feature: losses.feature,
      };
    for (const [k, v] of Object.entries(keys)) history[k].push(v);
    counter++;
  };

  if (o.checkpoint?.resume) {
    const s = o.checkpoint.resume;
    const extra = s.extra as
      | {
        probes?: [number, number][];
        final?: { keep: number[][]; start: number } | null;
        best?: { count: number; keep: number[][] } | null;
      }
      | undefined;
    unpackState(s, stores({ W, S, optW, optS }));
    for (const [k, v] of extra?.probes ?? []) probes.set(k, v);
    final = extra?.final ?? null;
    if (extra?.best) {
      const arrays = Object.fromEntries(
        Object.entries(s.arrays).filter(([k]) => k.startsWith("Best/")).map((
          [k, v],
        ) => [k.slice(5), v]),
      );
      best = { ...extra.best, arrays };
    }
    if (final) {
      await onHost([...W.list(), ...S.list()]); // newStudent reads them synchronously
      student = newStudent(final.keep);
      unpackState(s, stores(studentParts(student)));
    }
    Object.assign(history, s.history);
    counter = lastCheckpoint = s.step;
  }

  // 1. Condense. Learning rates decay linearly to 0 over each run of steps: the scales of
  // unused channels then settle at ~0 instead of oscillating around it.
  while (counter < C) {
    const { z, y } = batchOf(counter);
    const losses: Record<string, number> = {};
    const decay = 1 - counter / C;
    optW.opts.lr = weightLr * decay;
    optS.opts.lr = lr * decay;
    const vars = weightLr > 0 ? [...W.list(), ...S.list()] : S.list();
    let parts: tf.Tensor[] = [];
    const r = tf.variableGrads(() => {
      const rec = reconLoss(slimForward(W, cfg, z, { scales: S }).out, y);
      const pen = tf.addN(
        names.map((nm, i) => tf.mul(tf.sum(tf.abs(S.vars.get(`${nm}.s`)!)), penaltyWeights[i])),
      );
      parts = [tf.keep(rec), tf.keep(pen)]; // read after the step (asynchronously)
      return tf.add(rec, tf.mul(pen, l1)) as tf.Scalar;
    }, vars);
    if (weightLr > 0) optW.apply(W, r.grads);
    optS.apply(S, r.grads);
    [losses.rec, losses.l1] = (await onHost(parts)).map((v) => v[0]);
    tf.dispose(parts);
    losses.loss = (await r.value.data())[0];
    tf.dispose([z, y, r.value, ...Object.values(r.grads)]);
    record("condense", losses);
    o.onProgress?.(counter, C + D, "condense", losses);
    if (o.checkpoint && (counter % o.checkpoint.every === 0 || counter === C)) await save();
  }

  /** `steps` distillation steps of `st` (its learning rate decaying to 0 over them). */
  const distill = async (st: Student, from: number, steps: number, total: number) => {
    while (counter < from + steps) {
      const { z, y } = batchOf(counter);
      y.dispose(); // the student learns from the teacher's outputs and features
      const losses: Record<string, number> = {};
      // Warm up over the first tenth (a full-rate Adam step first wrecks the pruned weights:
      // the pixel loss rose 3x before recovering), then decay linearly to 0.
      const i = counter - from, warm = Math.max(1, Math.round(steps / 10));
      st.opt.opts.lr = st.optA.opts.lr = distillLr * Math.min(1, (i + 1) / warm) * (1 - i / steps);
      const t = tf.tidy(() => {
        const c = pixelsFrom === "condensed" || featuresFrom === "condensed"
          ? slimForward(W, cfg, z, { scales: S })
          : null;
        const g = original ? slimForward(original, cfg, z) : null;
        const pixels = (pixelsFrom === "original" ? g : c)!.out;
        return [pixels, ...(featuresFrom === "original" ? g : c)!.features];
      });
      let parts: tf.Tensor[] = [];
      const r = tf.variableGrads(() => {
        const f = slimForward(st.p, st.config, z);
        const pix = reconLoss(f.out, t[0]);
        const feats = f.features.map((h, i) => {
          const a = st.adapters.vars.get(`adapt.${names[i]}.w`) as tf.Variable<tf.Rank.R4>;
          return tf.mean(tf.square(tf.sub(tf.conv2d(h, a, 1, "same"), t[i + 1])));
        });
        const feat = tf.div(tf.addN(feats), feats.length) as tf.Scalar;
        parts = [tf.keep(pix), tf.keep(feat)]; // read after the step (asynchronously)
        return tf.add(pix, tf.mul(feat, featureWeight)) as tf.Scalar;
      }, [...st.p.list(), ...st.adapters.list()]);
      st.opt.apply(st.p, r.grads);
      st.optA.apply(st.adapters, r.grads);
      [losses.pixel, losses.feature] = (await onHost(parts)).map((v) => v[0]);
      tf.dispose(parts);
      losses.loss = (await r.value.data())[0];
      tf.dispose([z, r.value, ...Object.values(r.grads), ...t]);
      record("distill", losses);
      o.onProgress?.(counter, total, "distill", losses);
      if (o.checkpoint && final && counter % o.checkpoint.every === 0 && counter < from + steps) {
        await save();
      }
    }
  };
  const calibrationLoss = async (p: Params, c: SlimDecoderConfig) =>
    psnrLossDb(o.calibration, await decodeAll(p, c, o.calibration.codes, o.calibration.codeShape));

  // 2. Prune: how many channels. A budget is direct. For a PSNR target, the pruned-only loss
  // (no retraining) gives a count that surely fits; distillation recovers much more, so larger
  // counts are probed by distilling each (binary search on a grid of ~1/16 of the channels), and
  // the largest whose calibration loss meets the target is taken. With full-length probes (the
  // default) the chosen probe's student is the result: what was measured is what is returned.
  await onHost([...W.list(), ...S.list()]); // read synchronously from here on (GPU backends)
  const scales = scalesOf(S, names);
  const weights = W.toArrays();
  const safe = await choosePruneCount(weights, scales, cfg, o.calibration, o.target, minChannels);
  const max = prunable(cfg.channels, minChannels);
  const total = cfg.channels.reduce((a, b) => a + b, 0);
  const grid = Math.max(1, Math.round(total / 16));
  const candidates: number[] = [];
  for (let c = safe.count + grid; c < max + grid; c += grid) candidates.push(Math.min(c, max));
  const limit = "maxPsnrLossDb" in o.target ? o.target.maxPsnrLossDb : Infinity;
  const search = limit < Infinity && probeSteps > 0 && candidates.length > 0;
  const reuse = probeSteps === D;
  const probe = async (count: number) => {
    const known = probes.get(count);
    if (known !== undefined) return known;
    const st = newStudent(keepAfterPruning(scales, count, minChannels).keep);
    const estimate = C + Math.ceil(Math.log2(candidates.length + 1)) * probeSteps + (reuse ? 0 : D);
    await distill(st, counter, probeSteps, estimate);
    const l = await calibrationLoss(st.p, st.config);
    if (reuse && l <= limit && (!best || count > best.count)) {
      await onHost(st.p.list());
      best = { count, keep: st.keep, arrays: st.p.toArrays() };
    }
    dropStudent(st);
    probes.set(count, l);
    await save();
    return l;
  };
  let count = safe.count;
  if (!final && search) {
    let lo = -1, hi = candidates.length - 1; // candidates[lo] fits (-1: safe.count)
    while (lo < hi) {
      const mid = Math.ceil((lo + hi + 1) / 2);
      if (await probe(candidates[mid]) <= limit) lo = mid;
      else hi = mid - 1;
    }
    if (lo >= 0) count = candidates[lo];
  }
  let out: { keep: number[][]; config: SlimDecoderConfig; arrays: Record<string, NamedArray> };
  let pruned: Record<string, NamedArray>;
  const chosen = best as
    | { count: number; keep: number[][]; arrays: Record<string, NamedArray> }
    | null;
  if (!final && chosen && chosen.count === count) {
    const pr = pruneDecoder(weights, cfg, chosen.keep, scales);
    out = { keep: chosen.keep, config: pr.config, arrays: chosen.arrays };
    pruned = pr.arrays;
  } else {
    // 3. Distill the chosen student (when no probe already did).
    if (!final) {
      final = { keep: keepAfterPruning(scales, count, minChannels).keep, start: counter };
      student = newStudent(final.keep);
    }
    await distill(student!, final.start, D, final.start + D);
    await onHost(student!.p.list());
    out = { keep: final.keep, config: student!.config, arrays: student!.p.toArrays() };
    pruned = student!.pruned;
    dropStudent(student);
  }
  const removed = total - out.keep.reduce((a, k) => a + k.length, 0);
  const sp = paramsFrom(out.arrays);
  const result: CompressResult = {
    condensed: { arrays: weights, scales },
    keep: out.keep,
    pruned: { arrays: pruned, config: out.config },
    student: { arrays: out.arrays, config: out.config },
    selection: {
      prunedOnly: safe.selection,
      distilled: [...probes].sort((a, b) => a[0] - b[0]).map(([pruned, lossDb]) => ({
        pruned,
        lossDb,
      })),
    },
    threshold: keepAfterPruning(scales, removed, minChannels).threshold,
    calibrationLossDb: await calibrationLoss(sp, out.config),
    history,
  };
  sp.dispose();
  for (const x of [W, S, original, optW, optS]) x?.dispose();
  return result;
}

/**
 * Milliseconds per batch and images per second of several decoders on the same random codes:
 * a warm-up (oneDNN builds its primitives for the shapes), then `reps` rounds taking each
 * decoder in turn, so a change of machine load hits all of them alike; medians. `engine`
 * "compiled" times the decoders as the decode stages run them (`slimChain`: on onednn one
 * primitive per conv, upsampling fused into the next conv), "ops" as tfjs ops (`slimDecode`).
 */
export function decoderLatencies(
  decoders: { arrays: Record<string, NamedArray>; config: SlimDecoderConfig }[],
  codeShape: [number, number, number],
  batch: number,
  reps = 15,
  engine: "compiled" | "ops" = "compiled",
): { msPerBatch: number; imagesPerSecond: number }[] {
  const shape: [number, number, number, number] = [batch, ...codeShape];
  const x = new Rng(7).normalArray(batch * prod(codeShape));
  const runs = decoders.map((d) => {
    if (engine === "compiled") {
      const runner = slimChain(d.arrays, d.config);
      return { run: () => void runner.runArray(x, shape), dispose: () => runner.dispose() };
    }
    const p = paramsFrom(d.arrays);
    const z = tf.tensor4d(x, shape);
    return {
      run: () => {
        const out = slimDecode(p, d.config, z);
        out.dataSync();
        out.dispose();
      },
      dispose: () => {
        p.dispose();
        z.dispose();
      },
    };
  });
  // Warm-up: at least one round and one second. A fresh process ran its first few hundred
  // decodes up to 1.8x slower (measured here, whatever the decoder), then settled.
  const warmUntil = performance.now() + 1000;
  do for (const r of runs) r.run(); while (performance.now() < warmUntil);
  const times = decoders.map(() => [] as number[]);
  for (let i = 0; i < reps; i++) {
    runs.forEach((r, j) => {
      const t0 = performance.now();
      r.run();
      times[j].push(performance.now() - t0);
    });
  }
  for (const r of runs) r.dispose();
  return times.map((t) => {
    const ms = [...t].sort((a, b) => a - b)[Math.floor(t.length / 2)];
    return { msPerBatch: ms, imagesPerSecond: (1000 * batch) / ms };
  });
}
