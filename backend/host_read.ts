/**
 * Reading GPU tensors on the host under Deno. tfjs-backend-webgpu's synchronous read
 * (`dataSync`, `arraySync`, `bufferSync`) copies the buffer through a 2D OffscreenCanvas, which
 * Deno has no 2D context for: it failed deep inside tfjs with "Cannot read properties of null
 * (reading 'clearRect')". WebGPU itself can only map a buffer asynchronously, so there is no
 * synchronous path to fix it with. Instead:
 * - `guardSyncReads` makes a synchronous read of data still on the GPU fail at once with an
 *   error that names the tensor and the fix;
 * - `onHost` reads tensors asynchronously (one `await` for a whole list). tfjs then keeps a host
 *   copy of each, so code after it may read them synchronously (a checkpoint's `toArrays`);
 * - `watchGpuErrors` turns work the GPU rejected (which WebGPU skips silently) into an error at
 *   the next read.
 * On the JS-array backends all of it is free: the values already live on the host.
 */
import * as tf from "@tensorflow/tfjs";

interface GpuTensorData {
  values?: unknown;
  dtype: string;
}

/** The parts of tfjs-backend-webgpu's backend this module reads (not in its public types). */
interface WebGpuInternals {
  tensorMap: { get(dataId: object): GpuTensorData | undefined };
  readSync(dataId: object): unknown;
}

export class GpuSyncReadError extends Error {
  constructor(shape: number[] | undefined) {
    const at = callerOutsideTfjs(new Error().stack ?? "");
    super(
      `a tensor${shape ? ` of shape [${shape}]` : ""} is on the GPU and was read synchronously ` +
        `(dataSync/arraySync)${at ? ` at ${at}` : ""}; Deno's WebGPU can only read GPU ` +
        "memory asynchronously: " +
        "`await tensor.data()`, or `await onHost([...])` (backend/host_read.ts) before " +
        "the synchronous read",
    );
    this.name = "GpuSyncReadError";
  }
}

/** The first stack frame outside tfjs and this file: the code that asked for the read. */
export function callerOutsideTfjs(stack: string): string | null {
  for (const line of stack.split("\n").slice(1)) {
    const m = /\((.*)\)\s*$/.exec(line) ?? /at (.*)$/.exec(line);
    const where = m?.[1] ?? "";
    if (where && !/@tensorflow|host_read\.ts|ext:/.test(where)) {
      return where.replace(/^file:\/\//, "");
    }
  }
  return null;
}

const guarded = new WeakSet<object>();

/** Replaces the backend's canvas-based synchronous read by a clear error (idempotent). */
export function guardSyncReads(backendName = "webgpu"): void {
  const b = tf.findBackend(backendName) as unknown as WebGpuInternals | null;
  if (!b || guarded.has(b)) return;
  const stock = b.readSync.bind(b);
  b.readSync = (dataId: object) => {
    const d = b.tensorMap.get(dataId);
    // Host copies (made by an async read, or tensors created from host arrays) and strings
    // need no GPU: tfjs answers them itself.
    if (d === undefined || d.values != null || d.dtype === "string") return stock(dataId);
    throw new GpuSyncReadError(shapeOf(dataId));
  };
  guarded.add(b);
}

/** The shape of the tensor holding `dataId`, for the error message (engine internals). */
function shapeOf(dataId: object): number[] | undefined {
  const state = (tf.engine() as unknown as {
    state: { tensorInfo: { get(id: object): { shape: number[] } | undefined } };
  }).state;
  return state.tensorInfo.get(dataId)?.shape;
}

/**
 * Reads every tensor to the host in one wait (the reads overlap), so that synchronous reads of
 * them afterwards answer from the host copy. Returns their values, in order. Fails if the GPU
 * reported an error since the last read (see `watchGpuErrors`).
 */
export async function onHost(tensors: Iterable<tf.Tensor>): Promise<tf.backend_util.TypedArray[]> {
  const values = await Promise.all(
    [...tensors].map((t) => t.data() as Promise<tf.backend_util.TypedArray>),
  );
  throwIfGpuFailed();
  return values;
}

export class GpuError extends Error {
  override name = "GpuError";
}

let gpuErrors: string[] = [];
const watched = new WeakSet<object>();

/**
 * Collects the device's uncaptured errors. A WebGPU validation error does not throw where the
 * work was queued: the failing dispatch is skipped and its output stays zero, so numbers would
 * change silently. Reads (`onHost`, the training loops' loss reads) fail on them instead.
 */
export function watchGpuErrors(backendName = "webgpu"): void {
  const device = (tf.findBackend(backendName) as unknown as { device?: EventTarget } | null)
    ?.device;
  if (!device || watched.has(device)) return;
  device.addEventListener("uncapturederror", (e) => {
    const message = (e as Event & { error?: { message?: string } }).error?.message ?? String(e);
    gpuErrors.push(message.split("\n")[0]);
  });
  watched.add(device);
}

/** Throws (once) what the GPU reported since the last check. */
export function throwIfGpuFailed(): void {
  if (gpuErrors.length === 0) return;
  const errors = gpuErrors;
  gpuErrors = [];
  throw new GpuError(
    `the GPU rejected work (${errors.length} error${errors.length > 1 ? "s" : ""}), so results ` +
      `would be wrong: ${errors[0]}`,
  );
}

/** Whether the current backend keeps tensors off the host (a synchronous read would stall). */
export function onDevice(): boolean {
  return tf.getBackend() === "webgpu" || tf.getBackend() === "tensorflow";
}
