/**
 * Recycles large float32 output buffers of the onednn backend. A GAN step allocates a few hundred
 * MB of fresh tensor buffers; every fresh allocation costs page faults (the kernel zeroing each
 * 4 KiB page on first touch) and external-memory GCs, which made element-wise kernels several
 * times slower inside a training step than in isolation. Here a buffer freed by tfjs goes back
 * to a pool (keyed by length) and the next kernel output of that length reuses it.
 *
 * A buffer is recycled only when nothing else can see it:
 * - we allocated it (`alloc`), so it is not an array a user handed to tf.tensor();
 * - tfjs never gave it out: readSync (dataSync, data, arraySync, moving to another backend)
 *   returns the backend's own array, so such buffers are never recycled;
 * - no live tensor still refers to its memory: tfjs's cpu kernels may store a view of an input
 *   (a simple slice is a subarray), so live references are counted per ArrayBuffer.
 */
import type * as tf from "@tensorflow/tfjs";

/** Smaller buffers come cheaply from the allocator: not worth pooling. */
const MIN_POOLED = 1 << 14;
/**
 * Upper bound on the memory parked in the pool (tests lower it with `setPoolLimit`): a quarter
 * of the machine's memory, at most 4 GiB. It has to hold a whole step's or batch's working set:
 * at 512 MiB a batch of 16 through a 256² decoder overflowed it, and every call paid fresh,
 * page-faulting allocations (2-3x slower).
 */
let maxPooledBytes = defaultLimit();

function defaultLimit(): number {
  try {
    return Math.min(4 * 2 ** 30, Deno.systemMemoryInfo().total / 4);
  } catch {
    return 512 * 2 ** 20; // no --allow-sys
  }
}

const free = new Map<number, Float32Array[]>();
/** Every pooled buffer, oldest first: the ones evicted when the pool is full. */
const parked = new Set<Float32Array>();
let pooledBytes = 0;
const own = new WeakSet<ArrayBufferLike>();
const exposed = new WeakSet<ArrayBufferLike>();
const liveRefs = new WeakMap<ArrayBufferLike, number>();
let reused = 0, fresh = 0, freshBytes = 0, dropped = 0;

/**
 * A float32 array of `n` elements for a kernel output. Its contents are arbitrary (a recycled
 * buffer): callers must write every element, or pass `zero`.
 */
export function alloc(n: number, zero = false): Float32Array {
  if (n >= MIN_POOLED) {
    const list = free.get(n);
    const a = list?.pop();
    if (a) {
      parked.delete(a);
      pooledBytes -= a.byteLength;
      reused++;
      if (zero) a.fill(0);
      return a;
    }
  }
  const a = new Float32Array(n);
  if (n >= MIN_POOLED) {
    own.add(a.buffer);
    fresh++;
    freshBytes += a.byteLength;
  }
  return a;
}

/** Sets the pool's capacity in bytes; returns the previous one. */
export function setPoolLimit(bytes: number): number {
  const previous = maxPooledBytes;
  maxPooledBytes = bytes;
  return previous;
}

/**
 * Allocation counts (tests, benchmarks): served from the pool, fresh, and freed but not kept
 * (dropped, or evicted to make room).
 */
export function poolStats() {
  return { reused, fresh, freshBytes, dropped, pooledBytes };
}

function release(values: unknown) {
  if (!ArrayBuffer.isView(values)) return;
  const buf = values.buffer;
  const refs = (liveRefs.get(buf) ?? 1) - 1;
  if (refs > 0) {
    liveRefs.set(buf, refs);
    return;
  }
  if (liveRefs.delete(buf)) liveBytes -= buf.byteLength;
  if (!(values instanceof Float32Array) || !own.has(buf) || exposed.has(buf)) return;
  // Only whole buffers (a view would not be the full allocation).
  if (values.byteOffset !== 0 || values.byteLength !== buf.byteLength) return;
  if (values.byteLength > maxPooledBytes) {
    dropped++;
    return;
  }
  // Full: evict the longest-parked buffers. Dropping the newcomer instead would let one model's
  // buffers (say a wide teacher's) hold the pool while another model, run in turns with it,
  // pays fresh allocations on every call.
  for (const old of parked) {
    if (pooledBytes + values.byteLength <= maxPooledBytes) break;
    parked.delete(old);
    const list = free.get(old.length)!;
    list.splice(list.indexOf(old), 1);
    pooledBytes -= old.byteLength;
    dropped++;
  }
  let list = free.get(values.length);
  if (!list) free.set(values.length, list = []);
  list.push(values);
  parked.add(values);
  pooledBytes += values.byteLength;
}

function retain(values: unknown) {
  if (ArrayBuffer.isView(values)) {
    const refs = liveRefs.get(values.buffer) ?? 0;
    liveRefs.set(values.buffer, refs + 1);
    if (refs === 0) {
      liveBytes += values.buffer.byteLength;
      peakBytes = Math.max(peakBytes, liveBytes);
    }
  }
}

let liveBytes = 0, peakBytes = 0;

/**
 * Memory held by tensor data on this backend: every distinct buffer counted once, however many
 * tensors share it. tfjs's own tf.memory() adds a tensor's size for each tensor, so a reshape or
 * a clone (which share the buffer on this backend) counts twice there. `peak` is the most since
 * the last `resetPeakMemory()`.
 */
export function backendMemory(): { live: number; peak: number } {
  return { live: liveBytes, peak: peakBytes };
}

export function resetPeakMemory(): void {
  peakBytes = liveBytes;
}

type Data = { values: unknown; refCount: number };
type CpuBackendLike = tf.KernelBackend & {
  data: { get(id: object): Data | undefined; has(id: object): boolean };
  write(values: unknown, shape: number[], dtype: tf.DataType): object;
  move(dataId: object, values: unknown, shape: number[], dtype: tf.DataType, rc: number): void;
  readSync(dataId: object): unknown;
  disposeData(dataId: object, force?: boolean): boolean;
};

/** Makes a tfjs cpu backend instance track its buffers and return freed ones to the pool. */
export function poolBuffers<B extends tf.KernelBackend>(backend: B): B {
  const b = backend as unknown as CpuBackendLike;
  const write = b.write.bind(b), move = b.move.bind(b);
  const readSync = b.readSync.bind(b), disposeData = b.disposeData.bind(b);
  b.write = (values, shape, dtype) => {
    retain(values);
    return write(values, shape, dtype);
  };
  b.move = (dataId, values, shape, dtype, rc) => {
    const old = b.data.get(dataId)?.values;
    retain(values);
    move(dataId, values, shape, dtype, rc);
    if (old !== undefined) release(old);
  };
  b.readSync = (dataId) => {
    const values = b.data.get(dataId)?.values;
    if (ArrayBuffer.isView(values)) exposed.add(values.buffer);
    return readSync(dataId);
  };
  b.disposeData = (dataId, force = false) => {
    const values = b.data.get(dataId)?.values;
    const done = disposeData(dataId, force);
    if (values !== undefined && !b.data.has(dataId)) release(values);
    return done;
  };
  return backend;
}
