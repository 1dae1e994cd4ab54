/**
 * Fixes for tfjs 4.22 bugs that our models hit, all in one place:
 * - cpu ResizeNearestNeighborGrad indexes dy with the image's batch offset (wrong for batch > 1):
 *   a correct kernel is registered for the JS-array backends;
 * - no gradients for Greater/Less/... (so no second-order gradients through leakyRelu/maximum,
 *   which WGAN-GP and R1 need), for ResizeNearestNeighborGrad, AvgPoolGrad and
 *   DepthwiseConv2dNativeBackpropInput: registered here;
 * - cpu ResizeBilinearGrad swaps height and width in its output shape and ignores
 *   halfPixelCenters: a correct kernel (and its gradient, for second order) is registered;
 * - tf.batchNorm without scale/offset throws in backward: use `batchNorm` from this module.
 */
import * as tf from "@tensorflow/tfjs";

type CpuLike = tf.KernelBackend & {
  data: { get(id: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
};

interface ResizeAttrs {
  alignCorners: boolean;
  halfPixelCenters: boolean;
  size?: [number, number];
}

/** The source row (or column) that output index `r` reads in tfjs's nearest-neighbour resize. */
export function nearestSource(r: number, inSize: number, outSize: number, a: ResizeAttrs): number {
  const effIn = a.alignCorners && outSize > 1 ? inSize - 1 : inSize;
  const effOut = a.alignCorners && outSize > 1 ? outSize - 1 : outSize;
  const scale = effIn / effOut;
  const frac = a.halfPixelCenters ? scale * (r + 0.5) : scale * r;
  let src = Math.min(inSize - 1, a.alignCorners ? Math.round(frac) : Math.floor(frac));
  if (a.halfPixelCenters) src = Math.max(0, src);
  return src;
}

/**
 * Correct ResizeNearestNeighborGrad for backends whose tensors are JS typed arrays; `zeros`
 * allocates the (zero-filled) output.
 */
export function resizeNearestGradKernel(
  backendName: string,
  zeros: (n: number) => Float32Array = (n) => new Float32Array(n),
): tf.KernelConfig {
  return {
    kernelName: "ResizeNearestNeighborGrad",
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { images, dy } = inputs as { images: tf.TensorInfo; dy: tf.TensorInfo };
      const b = backend as CpuLike;
      const [batch, inH, inW, ch] = images.shape;
      const [, outH, outW] = dy.shape;
      const g = b.data.get(dy.dataId).values as Float32Array;
      const out = zeros(batch * inH * inW * ch);
      const a = attrs as unknown as ResizeAttrs;
      const rows = Array.from({ length: outH }, (_, r) => nearestSource(r, inH, outH, a));
      const cols = Array.from({ length: outW }, (_, c) => nearestSource(c, inW, outW, a));
      for (let n = 0; n < batch; n++) {
        for (let y = 0; y < outH; y++) {
          const srcRow = (n * inH + rows[y]) * inW;
          const dyRow = ((n * outH + y) * outW) * ch;
          for (let x = 0; x < outW; x++) {
            const o = (srcRow + cols[x]) * ch;
            const d = dyRow + x * ch;
            for (let c = 0; c < ch; c++) out[o + c] += g[d + c];
          }
        }
      }
      return b.makeTensorInfo([batch, inH, inW, ch], "float32", out);
    },
  };
}

/**
 * Where output index `r` samples in tfjs's bilinear resize: rows `lo` and `hi` blended by
 * `frac` (the forward kernel's exact arithmetic, so the gradient is its true adjoint).
 */
export function bilinearSource(
  r: number,
  inSize: number,
  outSize: number,
  a: ResizeAttrs,
): { lo: number; hi: number; frac: number } {
  const effIn = a.alignCorners && outSize > 1 ? inSize - 1 : inSize;
  const effOut = a.alignCorners && outSize > 1 ? outSize - 1 : outSize;
  const scale = effIn / effOut;
  const src = a.halfPixelCenters ? scale * (r + 0.5) - 0.5 : scale * r;
  const lo = Math.max(0, Math.floor(src));
  return { lo, hi: Math.min(inSize - 1, Math.ceil(src)), frac: src - lo };
}

/**
 * Correct ResizeBilinearGrad for JS-array backends. tfjs-backend-cpu's returns the gradient
 * with height and width swapped in its shape and ignores halfPixelCenters (the mode that
 * matches PyTorch's align_corners=False).
 */
function resizeBilinearGradKernel(backendName: string): tf.KernelConfig {
  return {
    kernelName: "ResizeBilinearGrad",
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { images, dy } = inputs as { images: tf.TensorInfo; dy: tf.TensorInfo };
      const b = backend as CpuLike;
      const [batch, inH, inW, ch] = images.shape;
      const [, outH, outW] = dy.shape;
      const g = b.data.get(dy.dataId).values as Float32Array;
      const out = new Float32Array(batch * inH * inW * ch);
      const a = attrs as unknown as ResizeAttrs;
      const rows = Array.from({ length: outH }, (_, r) => bilinearSource(r, inH, outH, a));
      const cols = Array.from({ length: outW }, (_, c) => bilinearSource(c, inW, outW, a));
      let d = 0;
      for (let n = 0; n < batch; n++) {
        for (const { lo: top, hi: bottom, frac: fy } of rows) {
          for (const { lo: left, hi: right, frac: fx } of cols) {
            const w = [(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx];
            const at = [
              ((n * inH + top) * inW + left) * ch,
              ((n * inH + top) * inW + right) * ch,
              ((n * inH + bottom) * inW + left) * ch,
              ((n * inH + bottom) * inW + right) * ch,
            ];
            for (let c = 0; c < ch; c++, d++) {
              const v = g[d];
              for (let k = 0; k < 4; k++) out[at[k] + c] += v * w[k];
            }
          }
        }
      }
      return b.makeTensorInfo([batch, inH, inW, ch], "float32", out);
    },
  };
}

/** The gradient of a resize-gradient kernel: the forward resize of the incoming gradient. */
function resizeGradGradient(
  kernelName: string,
  resize: (
    x: tf.Tensor4D,
    size: [number, number],
    alignCorners: boolean,
    halfPixelCenters: boolean,
  ) => tf.Tensor4D,
): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ["images", "dy"],
    gradFunc: (g, saved, attrs) => {
      const [images, dy] = saved;
      const a = attrs as unknown as ResizeAttrs;
      return {
        images: () => tf.zerosLike(images),
        dy: () =>
          resize(
            g as tf.Tensor4D,
            [dy.shape[1]!, dy.shape[2]!],
            a.alignCorners,
            a.halfPixelCenters,
          ),
      };
    },
  };
}

const zeroGrad = (kernelName: string): tf.GradConfig => ({
  kernelName,
  inputsToSave: ["a", "b"],
  gradFunc: (_dy, saved) => ({ a: () => tf.zerosLike(saved[0]), b: () => tf.zerosLike(saved[1]) }),
});

let applied = false;
const fixedBackends = new Set<string>();

/** Registers every fix; `jsBackends` are backends that keep tensors in JS arrays. */
export function applyTfjsFixes(jsBackends: string[]): void {
  for (const name of jsBackends) {
    if (fixedBackends.has(name) || !tf.getKernel("ResizeNearestNeighborGrad", name)) continue;
    tf.unregisterKernel("ResizeNearestNeighborGrad", name);
    tf.registerKernel(resizeNearestGradKernel(name));
    if (tf.getKernel("ResizeBilinearGrad", name)) tf.unregisterKernel("ResizeBilinearGrad", name);
    tf.registerKernel(resizeBilinearGradKernel(name));
    fixedBackends.add(name);
  }
  if (applied) return;
  applied = true;
  // Comparisons are piecewise constant: zero gradient almost everywhere.
  for (const k of ["Greater", "GreaterEqual", "Less", "LessEqual", "Equal", "NotEqual"]) {
    tf.registerGradient(zeroGrad(k));
  }
  // A resize gradient is linear in dy; its adjoint is the forward resize.
  tf.registerGradient(
    resizeGradGradient("ResizeNearestNeighborGrad", tf.image.resizeNearestNeighbor),
  );
  tf.registerGradient(resizeGradGradient("ResizeBilinearGrad", tf.image.resizeBilinear));
  // Average pooling's gradient is linear in dy; its adjoint is the forward pool (exact where
  // every window has the same count, e.g. 'valid' box downsampling).
  tf.registerGradient({
    kernelName: "AvgPoolGrad",
    inputsToSave: ["input"],
    gradFunc: (g, saved, attrs) => {
      const a = attrs as unknown as {
        filterSize: [number, number] | number;
        strides: [number, number] | number;
        pad: "valid" | "same" | number;
        dimRoundingMode?: "floor" | "round" | "ceil";
      };
      return {
        dy: () => tf.avgPool(g as tf.Tensor4D, a.filterSize, a.strides, a.pad, a.dimRoundingMode),
        input: () => tf.zerosLike(saved[0]),
      };
    },
  });
  // dx = BackpropInput(dy, W) is bilinear: d/d(dy) is the forward conv, d/dW the filter gradient.
  tf.registerGradient({
    kernelName: "DepthwiseConv2dNativeBackpropInput",
    inputsToSave: ["dy", "filter"],
    gradFunc: (g, saved, attrs) => {
      const [dy, filter] = saved;
      const a = attrs as unknown as {
        strides: [number, number] | number;
        pad: "valid" | "same" | number;
        dilations: [number, number] | number;
        dimRoundingMode?: "floor" | "round" | "ceil";
      };
      return {
        dy: () =>
          tf.depthwiseConv2d(
            g as tf.Tensor4D,
            filter as tf.Tensor4D,
            a.strides,
            a.pad,
            "NHWC",
            a.dilations,
            a.dimRoundingMode,
          ),
        filter: () =>
          tf.engine().runKernel("DepthwiseConv2dNativeBackpropFilter", { x: g as tf.Tensor, dy }, {
            ...a,
            filterShape: filter.shape,
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
      };
    },
  });
}

/**
 * Batch normalisation that works in backward without scale/offset (tfjs's fails on the
 * missing tensors): missing ones become constants 1 and 0.
 */
export function batchNorm(
  x: tf.Tensor,
  mean: tf.Tensor,
  variance: tf.Tensor,
  offset: tf.Tensor | undefined,
  scale: tf.Tensor | undefined,
  eps = 1e-5,
): tf.Tensor {
  const inv = tf.rsqrt(tf.add(variance, eps));
  const normed = tf.mul(tf.sub(x, mean), scale ? tf.mul(inv, scale) : inv);
  return offset ? tf.add(normed, offset) : normed;
}
