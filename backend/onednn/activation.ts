/**
 * Leaky ReLU done in one pass each way. tfjs computes its gradient as
 * where(greater(x, 0), dy, dy * alpha): three kernels and a bool tensor per activation. Here the
 * gradient is one kernel, `GanflowLeakyReluGrad`(dy, x) = dy where x > 0, else alpha * dy. It is
 * linear in dy (its gradient with respect to dy is itself, with respect to x zero: the mask is
 * piecewise constant), so second-order gradients (WGAN-GP, R1) still work. On the onednn
 * backend large tensors go through oneDNN's eltwise ReLU (alpha = slope), forward and backward.
 * Also nearest-neighbour resize and its gradient: oneDNN strided reorders for integer upscaling
 * (ops.ts), else direct JS loops (the cpu kernel is generic and slow, its gradient wrong for
 * batch > 1).
 */
import * as tf from "@tensorflow/tfjs";
import type { CpuBackend } from "../cpu_backend.ts";
import { nearestSource, resizeNearestGradKernel } from "../fixes.ts";
import type { OneDnn } from "./ffi.ts";
import { alloc } from "./pool.ts";
import {
  ALG,
  eltwiseBackward,
  eltwiseForward,
  MIN_ELEMENTS,
  upsampleNearest,
  upsampleNearestGrad,
} from "./ops.ts";

export const LEAKY_GRAD = "GanflowLeakyReluGrad";

function leakyJs(x: Float32Array, alpha: number, out: Float32Array) {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    out[i] = v > 0 ? v : v * alpha;
  }
}

function leakyGradJs(dy: Float32Array, x: Float32Array, alpha: number, out: Float32Array) {
  for (let i = 0; i < x.length; i++) out[i] = x[i] > 0 ? dy[i] : dy[i] * alpha;
}

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

/** The gradient kernel alone (for JS-array backends that keep their own LeakyRelu). */
function leakyGradKernel(backendName: string, dnn: OneDnn | null): tf.KernelConfig {
  return {
    kernelName: LEAKY_GRAD,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
      const b = backend as CpuBackend;
      const alpha = (attrs as unknown as { alpha: number }).alpha;
      const xv = values(b, x), dv = values(b, dy);
      const out = alloc(xv.length);
      if (
        !(dnn && xv.length >= MIN_ELEMENTS &&
          eltwiseBackward(dnn, ALG.relu, alpha, 0, dv, xv, out))
      ) leakyGradJs(dv, xv, alpha, out);
      return b.makeTensorInfo([...x.shape], "float32", out);
    },
  };
}

function leakyKernels(backendName: string, dnn: OneDnn | null): tf.KernelConfig[] {
  const gradFallback = resizeNearestGradKernel(backendName, (n) => alloc(n, true));
  return [
    {
      kernelName: "LeakyRelu",
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x } = inputs as { x: tf.TensorInfo };
        const b = backend as CpuBackend;
        if (x.dtype !== "float32") throw new Error(`LeakyRelu on ${x.dtype}`);
        const alpha = (attrs as unknown as { alpha: number }).alpha;
        const v = values(b, x);
        const out = alloc(v.length);
        if (
          !(dnn && v.length >= MIN_ELEMENTS && eltwiseForward(dnn, ALG.relu, alpha, 0, v, out))
        ) leakyJs(v, alpha, out);
        return b.makeTensorInfo([...x.shape], "float32", out);
      },
    },
    leakyGradKernel(backendName, dnn),
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
        // The batch-safe gradient of fixes.ts, on a recycled (zeroed) buffer.
        return gradFallback.kernelFunc(args) as tf.TensorInfo;
      },
    },
  ];
}

let gradientRegistered = false;

/**
 * Registers the fast kernels for `backendNames` (`dnn`: oneDNN for their large tensors) and the
 * one-pass gradient. The gradient override is global, so the gradient kernel is also registered
 * for `gradOnly` backends (JS-array backends the process may switch to, e.g. "cpu" in tests)
 * without replacing their other kernels.
 */
export function registerLeakyRelu(
  backendNames: string[],
  gradOnly: string[] = [],
  dnn: OneDnn | null = null,
): void {
  for (const name of gradOnly) {
    if (!tf.getKernel(LEAKY_GRAD, name)) tf.registerKernel(leakyGradKernel(name, null));
  }
  for (const name of backendNames) {
    for (const k of leakyKernels(name, dnn)) {
      if (tf.getKernel(k.kernelName, name)) tf.unregisterKernel(k.kernelName, name);
      tf.registerKernel(k);
    }
  }
  if (gradientRegistered) return;
  gradientRegistered = true;
  tf.registerGradient({
    kernelName: LEAKY_GRAD,
    inputsToSave: ["x"],
    gradFunc: (g, saved, attrs) => {
      const [x] = saved;
      return {
        dy: () =>
          tf.engine().runKernel(
            LEAKY_GRAD,
            { dy: g as tf.Tensor, x },
            attrs as tf.NamedAttrMap,
          ) as tf.Tensor,
        x: () => tf.zerosLike(x),
      };
    },
  });
  // Saves the output, not the input: with a slope >= 0, y > 0 exactly where x > 0, so the
  // gradient reads the same from either, and the output is usually kept anyway (the next op's
  // input, e.g. pixel norm's), while the input would be one more activation held to backward.
  tf.registerGradient({
    kernelName: "LeakyRelu",
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [y] = saved;
      const alpha = (attrs as unknown as { alpha: number }).alpha;
      if (alpha < 0) {
        throw new Error(`leaky ReLU gradient: slope ${alpha} < 0 is not supported`);
      }
      return {
        x: () =>
          tf.engine().runKernel(
            LEAKY_GRAD,
            { dy: dy as tf.Tensor, x: y },
            attrs as tf.NamedAttrMap,
          ) as tf.Tensor,
      };
    },
  });
}
