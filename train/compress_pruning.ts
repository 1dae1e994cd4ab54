/**
 * The prune step of compression (train/compress.ts): which channels go (the smallest |scale|
 * under one global threshold), how many (a budget, or a binary search on the calibration PSNR
 * loss), and the 1x1 adapters that let the pruned student's features be matched to the teacher's.
 * Also the decoder helpers every phase uses: weights to a parameter store, decoding a code set.
 */
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import type { NamedArray } from "../nn/tensor_file.ts";
import { pruneDecoder, slimDecode, type SlimDecoderConfig } from "../models/slim_decoder.ts";
import { mapBatchesAsync, psnr } from "./autoencoder.ts";
import type { Calibration, CompressTarget } from "./compress_options.ts";

/** Decodes every code (in batches of 64, each read asynchronously) through a slim decoder. */
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
