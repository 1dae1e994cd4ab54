/**
 * The phase conv's interleaving copy and its adjoint (backend/ops/phase_conv.ts) on the onednn
 * backend: oneDNN reorders (multi-threaded, vectorised) for
 * large tensors, the JS loops for small ones: four strided copies each way, one per output
 * phase (a, b), between z [n, h+1, w+1, 4c] at row i + a, column j + b, channel (2a + b) c + k
 * and y [n, 2h, 2w, c] at pixel (2i + a, 2j + b), channel k.
 */
import * as tf from "@tensorflow/tfjs";
import type { CpuBackend } from "../js_array_backend.ts";
import {
  deinterleaveJs,
  interleaveJs,
  PHASE_DEINTERLEAVE,
  PHASE_INTERLEAVE,
  phaseDims,
  phaseKernelsJs,
  zeroUnreadPhases,
} from "../ops/phase_conv.ts";
import type { OneDnn } from "./ffi.ts";
import { DNNL } from "./ffi.ts";
import { alloc } from "./buffer_pool.ts";
import { memoryDesc } from "./memory_desc.ts";
import { execute, implName, type Primitive, reorderPrimitive } from "./primitive.ts";
import { MIN_ELEMENTS } from "./eltwise_primitives.ts";

const cache = new Map<string, Primitive | null>();

/**
 * The copy of one phase: z's [n, h, w, c] window at row a, column b, channels (2a + b) c to y's
 * pixels (2i + a, 2j + b) (`toY`), or back. One primitive serves all four phases: they differ
 * only in where the views start (`phaseOffsets`). Null where oneDNN has only its reference
 * reorder. (One 6-D view [n, h, a, w, b, c] would do all four at once, but oneDNN refuses z's
 * strides for it: they interleave.)
 */
function phaseReorder(d: OneDnn, [n, h, w, c]: number[], toY: boolean): Primitive | null {
  const key = `${toY ? "i" : "d"}${n},${h},${w},${c}`;
  let p = cache.get(key);
  if (p === undefined) {
    const view = [n, h, w, c];
    const zRow = (w + 1) * 4 * c;
    const z = memoryDesc(d, view, [(h + 1) * zRow, zRow, 4 * c, 1]);
    const y = memoryDesc(d, view, [4 * h * w * c, 4 * w * c, 2 * c, 1]);
    const r = toY ? reorderPrimitive(d, z, y) : reorderPrimitive(d, y, z);
    p = implName(d, r.pd).startsWith("ref") ? null : r;
    cache.set(key, p);
  }
  return p;
}

/** Where phase (a, b)'s views start in z and in y, in elements. */
function phaseOffsets([, , w, c]: number[], a: number, b: number): [number, number] {
  return [(a * (w + 1) + b) * 4 * c + (2 * a + b) * c, (a * 2 * w + b) * c];
}

/** Runs the four phase copies: z -> y (`toY`) or y -> z. */
function copyPhases(
  d: OneDnn,
  p: Primitive,
  dims: number[],
  z: Float32Array,
  y: Float32Array,
  toY: boolean,
): void {
  for (let a = 0; a < 2; a++) {
    for (let b = 0; b < 2; b++) {
      const [zo, yo] = phaseOffsets(dims, a, b);
      const [from, to] = toY ? [z.subarray(zo), y.subarray(yo)] : [y.subarray(yo), z.subarray(zo)];
      execute(d, p, [[DNNL.argFrom, from], [DNNL.argTo, to]]);
    }
  }
}

/** How many phase reorders were built (tests: the oneDNN path really ran). */
export function phaseReorderCount(): number {
  return [...cache.values()].filter((p) => p !== null).length;
}

function values(b: CpuBackend, t: tf.TensorInfo): Float32Array {
  return b.data.get(t.dataId).values as Float32Array;
}

export function phaseKernels(dnn: OneDnn): tf.KernelConfig[] {
  // The filter maps: the JS loops, on pooled buffers.
  const filters = phaseKernelsJs("onednn", (n) => alloc(n)).filter((k) =>
    k.kernelName !== PHASE_INTERLEAVE && k.kernelName !== PHASE_DEINTERLEAVE
  );
  return [
    ...filters,
    {
      kernelName: PHASE_INTERLEAVE,
      backendName: "onednn",
      kernelFunc: ({ inputs, backend }) => {
        const b = backend as CpuBackend;
        const { z } = inputs as { z: tf.TensorInfo };
        const dims = phaseDims(z.shape);
        const [n, h, w, c] = dims;
        const y = alloc(n * 4 * h * w * c);
        const p = y.length >= MIN_ELEMENTS ? phaseReorder(dnn, dims, true) : null;
        if (p) copyPhases(dnn, p, dims, values(b, z), y, true);
        else interleaveJs(values(b, z), dims, y);
        return b.makeTensorInfo([n, 2 * h, 2 * w, c], "float32", y);
      },
    },
    {
      kernelName: PHASE_DEINTERLEAVE,
      backendName: "onednn",
      kernelFunc: ({ inputs, backend }) => {
        const b = backend as CpuBackend;
        const { dy } = inputs as { dy: tf.TensorInfo };
        const [n, h2, w2, c] = dy.shape;
        const dims = [n, h2 / 2, w2 / 2, c];
        const dz = alloc(n * (dims[1] + 1) * (dims[2] + 1) * 4 * c);
        const p = dz.length >= MIN_ELEMENTS ? phaseReorder(dnn, dims, false) : null;
        if (p) {
          zeroUnreadPhases(dz, dims);
          copyPhases(dnn, p, dims, dz, values(b, dy), false);
        } else deinterleaveJs(values(b, dy), dims, dz);
        return b.makeTensorInfo([n, dims[1] + 1, dims[2] + 1, 4 * c], "float32", dz);
      },
    },
  ];
}

/** Replaces the onednn backend's JS phase kernels with these. */
export function registerPhaseKernels(dnn: OneDnn | null): void {
  if (!dnn) return;
  for (const k of phaseKernels(dnn)) {
    if (tf.getKernel(k.kernelName, "onednn")) tf.unregisterKernel(k.kernelName, "onednn");
    tf.registerKernel(k);
  }
}
