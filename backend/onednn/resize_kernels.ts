/**
 * Nearest-neighbour resize and its gradient on the onednn backend: oneDNN strided reorders for
 * integer upscaling (eltwise_primitives.ts), else direct JS loops (the cpu kernel is generic and
 * slow, its gradient wrong for batch > 1).
 */
import * as tf from "@tensorflow/tfjs";
import type { CpuBackend } from "../js_array_backend.ts";
import { nearestSource, resizeNearestGradKernel } from "../patches/tfjs_bug_fixes.ts";
import type { OneDnn } from "./ffi.ts";
import { alloc } from "./buffer_pool.ts";
import { MIN_ELEMENTS, upsampleNearest, upsampleNearestGrad } from "./eltwise_primitives.ts";

interface ResizeAttrs {
  size: [number, number];
  alignCorners: boolean;
  halfPixelCenters: boolean;
}

/**
 * (fy, fx) when the resize repeats each pixel fy x fx times: integer upscaling, corners not
 * aligned, and tfjs's own source index (nearestSource, in floating point) equal to floor(r / f)
 * for every output row and column. Null otherwise.
 */
function integerFactors(
  a: ResizeAttrs,
  h: number,
  w: number,
  oh: number,
  ow: number,
): [number, number] | null {
  if (a.alignCorners || oh < h || ow < w || oh % h !== 0 || ow % w !== 0) return null;
  const fy = oh / h, fx = ow / w;
  for (let r = 0; r < oh; r++) if (nearestSource(r, h, oh, a) !== Math.floor(r / fy)) return null;
  for (let q = 0; q < ow; q++) if (nearestSource(q, w, ow, a) !== Math.floor(q / fx)) return null;
  return [fy, fx];
}

function resizeJs(v: Float32Array, [n, h, w, c]: number[], a: ResizeAttrs, out: Float32Array) {
  const [oh, ow] = a.size;
  const rows = Array.from({ length: oh }, (_, r) => nearestSource(r, h, oh, a));
  const cols = Array.from({ length: ow }, (_, q) => nearestSource(q, w, ow, a));
  const rowLen = ow * c;
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < oh; y++) {
      const o = (i * oh + y) * rowLen;
      if (y > 0 && rows[y] === rows[y - 1]) {
        // Same source row as the previous output row: one block copy.
        out.copyWithin(o, o - rowLen, o);
        continue;
      }
      const row = (i * h + rows[y]) * w;
      for (let x = 0; x < ow; x++) {
        const src = (row + cols[x]) * c, dst = o + x * c;
        for (let k = 0; k < c; k++) out[dst + k] = v[src + k];
      }
    }
  }
}

function values(b: CpuBackend, t: tf.TensorInfo): Float32Array {
  return b.data.get(t.dataId).values as Float32Array;
}

function resizeKernels(backendName: string, dnn: OneDnn | null): tf.KernelConfig[] {
  const gradFallback = resizeNearestGradKernel(backendName, (n) => alloc(n, true));
  return [
    {
      kernelName: "ResizeNearestNeighbor",
      backendName,
      kernelFunc: (args) => {
        const { images } = args.inputs as { images: tf.TensorInfo };
        const b = args.backend as CpuBackend;
        const a = args.attrs as unknown as ResizeAttrs;
        const [n, h, w, c] = images.shape;
        const [oh, ow] = a.size;
        const v = values(b, images);
        const out = alloc(n * oh * ow * c);
        const f = images.dtype === "float32" && out.length >= MIN_ELEMENTS
          ? integerFactors(a, h, w, oh, ow)
          : null;
        if (!(dnn && f && upsampleNearest(dnn, v, images.shape, f[0], f[1], out))) {
          resizeJs(v, [n, h, w, c], a, out);
        }
        return b.makeTensorInfo([n, oh, ow, c], "float32", out);
      },
    },
    {
      kernelName: "ResizeNearestNeighborGrad",
      backendName,
      kernelFunc: (args) => {
        const { images, dy } = args.inputs as { images: tf.TensorInfo; dy: tf.TensorInfo };
        const b = args.backend as CpuBackend;
        const a = args.attrs as unknown as ResizeAttrs;
        const [, h, w] = images.shape;
        const [, oh, ow] = dy.shape;
        const f = dy.dtype === "float32" &&
            dy.shape.reduce((p, q) => p * q, 1) >= MIN_ELEMENTS
          ? integerFactors({ ...a, size: [oh, ow] }, h, w, oh, ow)
          : null;
        if (dnn && f) {
          const dx = alloc(images.shape.reduce((p, q) => p * q, 1));
          if (upsampleNearestGrad(dnn, values(b, dy), images.shape, f[0], f[1], dx)) {
            return b.makeTensorInfo([...images.shape], "float32", dx);
          }
        }
        // The batch-safe gradient of patches/tfjs_bug_fixes.ts, on a recycled (zeroed) buffer.
        return gradFallback.kernelFunc(args) as tf.TensorInfo;
      },
    },
  ];
}

/** Registers the resize kernels for `backendNames` (`dnn`: oneDNN for their large tensors). */
export function registerResizeKernels(backendNames: string[], dnn: OneDnn | null = null): void {
  for (const name of backendNames) {
    for (const k of resizeKernels(name, dnn)) {
      if (tf.getKernel(k.kernelName, name)) tf.unregisterKernel(k.kernelName, name);
      tf.registerKernel(k);
    }
  }
}
