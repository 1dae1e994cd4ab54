/**
 * Generic Zarr arrays of samples: a float32 [N, ...] writer/reader (latent codes, generated
 * samples) and the seeded minibatch reader shared with the image store. The sample order of
 * epoch e is a seeded permutation, so batch(step) depends only on (seed, step): a resumed run
 * reads exactly the same batches. Chunks are read on demand through zarrita and kept in a small
 * LRU; the next batch is prefetched while the caller trains on the current one.
 */
import * as zarr from "zarrita";
import { Rng } from "../nn/rng.ts";
import type { BatchSource } from "./batch_source.ts";
import { ArrayWriter, openArray, type ZarrFormat } from "./zarr_io.ts";

type Numeric = Uint8Array | Float32Array | Int32Array;

export interface ArrayBatchOptions {
  store: string;
  /** Path of the [N, H, W, C] array inside the store, e.g. "images/32" or "codes". */
  array: string;
  batchSize: number;
  seed: number;
  /** Maps stored values to floats (uint8 images -> [-1, 1] by default). */
  scale?: (v: number) => number;
  /** Only use the first `limit` samples (e.g. to hold out the rest). */
  limit?: number;
  /** Skip the first `offset` samples. */
  offset?: number;
  prefetch?: boolean;
  cacheChunks?: number;
}

export async function openArrayBatches(o: ArrayBatchOptions): Promise<BatchSource> {
  const arr = await openArray(o.store, o.array);
  if (arr.shape.length !== 4) throw new Error(`${o.array}: expected [N,H,W,C], got [${arr.shape}]`);
  const [total, h, w, c] = arr.shape;
  const offset = o.offset ?? 0;
  const n = Math.min(total - offset, o.limit ?? Infinity);
  if (n <= 0) throw new Error(`${o.array}: no samples (${total} stored, offset ${offset})`);
  const per = h * w * c;
  const chunkRows = arr.chunks[0];
  const isU8 = arr.dtype === "uint8";
  const scale = o.scale ?? (isU8 ? (v: number) => v / 127.5 - 1 : (v: number) => v);
  const lru = new Map<number, Promise<Numeric>>();
  const maxChunks = o.cacheChunks ?? 64;
  const chunk = (i: number): Promise<Numeric> => {
    let p = lru.get(i);
    if (p) {
      lru.delete(i);
      lru.set(i, p);
      return p;
    }
    p = arr.getChunk([i, 0, 0, 0]).then((ch) => ch.data as Numeric);
    lru.set(i, p);
    if (lru.size > maxChunks) lru.delete(lru.keys().next().value!);
    return p;
  };
  const perms = new Map<number, Uint32Array>();
  const permutation = (epoch: number) => {
    let p = perms.get(epoch);
    if (!p) {
      p = Uint32Array.from({ length: n }, (_, i) => i);
      new Rng(o.seed * 1000003 + epoch).shuffle(p);
      perms.set(epoch, p);
      if (perms.size > 2) perms.delete(perms.keys().next().value!);
    }
    return p;
  };
  const indices = (step: number): Uint32Array =>
    Uint32Array.from({ length: o.batchSize }, (_, j) => {
      const flat = step * o.batchSize + j;
      return permutation(Math.floor(flat / n))[flat % n];
    });
  const load = async (step: number): Promise<Float32Array> => {
    const out = new Float32Array(o.batchSize * per);
    const rows = indices(step);
    for (let j = 0; j < o.batchSize; j++) {
      const idx = offset + rows[j];
      const data = await chunk(Math.floor(idx / chunkRows));
      const src = (idx % chunkRows) * per;
      for (let k = 0; k < per; k++) out[j * per + k] = scale(data[src + k]);
    }
    return out;
  };
  let ahead: { step: number; p: Promise<Float32Array> } | null = null;
  return {
    sampleShape: [h, w, c],
    size: n,
    batchSize: o.batchSize,
    indices,
    async batch(step: number) {
      const p = ahead && ahead.step === step ? ahead.p : load(step);
      if (o.prefetch ?? true) ahead = { step: step + 1, p: load(step + 1) };
      return await p;
    },
    async close() {
      lru.clear();
      await ahead?.p.catch(() => {});
    },
  };
}

/** Writes a float32 [N, ...] array chunked by rows. */
export async function writeFloatArray(
  store: string,
  name: string,
  data: Float32Array,
  shape: number[],
  opts: { attributes?: Record<string, unknown>; format?: ZarrFormat; chunkRows?: number } = {},
): Promise<void> {
  const expected = shape.reduce((a, b) => a * b, 1);
  if (shape.length === 0 || shape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new Error(`writeFloatArray ${name}: shape must be positive integers, got [${shape}]`);
  }
  if (data.length !== expected) {
    throw new Error(
      `writeFloatArray ${name}: ${data.length} values do not fill shape [${shape}] (${expected})`,
    );
  }
  const rows = Math.min(shape[0], opts.chunkRows ?? 1024);
  const per = shape.slice(1).reduce((a, b) => a * b, 1);
  const w = await ArrayWriter.create(store, name, opts.format ?? 3, {
    shape,
    chunks: [rows, ...shape.slice(1)],
    dtype: "float32",
    attributes: opts.attributes,
  });
  for (let i = 0; i * rows < shape[0]; i++) {
    const chunk = new Float32Array(rows * per);
    chunk.set(data.subarray(i * rows * per, Math.min(data.length, (i + 1) * rows * per)));
    await w.writeChunk([i, ...shape.slice(1).map(() => 0)], chunk);
  }
}

export async function readFloatArray(
  store: string,
  name: string,
): Promise<{ data: Float32Array; shape: number[]; attrs: Record<string, unknown> }> {
  const arr = await openArray(store, name);
  const res = await zarr.get(arr);
  const data = res.data instanceof Float32Array
    ? res.data
    : Float32Array.from(res.data as ArrayLike<number>);
  return { data, shape: res.shape, attrs: arr.attrs as Record<string, unknown> };
}
