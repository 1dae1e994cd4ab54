/**
 * ProGAN's pixelwise feature normalisation, y = x / sqrt(mean(x², channels) + eps), as one kernel
 * and one gradient kernel on the JS-array backends (cpu, onednn). Written as tfjs ops it is a
 * square, a mean over the innermost axis, an add, an rsqrt and a broadcast multiply forward, and
 * about twice that backward: in a 64² DCGAN generator those ops took ~120 of its 186 ms
 * fwd+bwd, more than all its convolutions. Here each direction is one pass over the channels of
 * each pixel. Other backends get the op-by-op formula.
 */
import * as tf from "@tensorflow/tfjs";
import type { CpuBackend } from "../js_array_backend.ts";

export const PIXEL_NORM = "GanflowPixelNorm";
export const PIXEL_NORM_GRAD = "GanflowPixelNormGrad";

function values(b: CpuBackend, t: tf.TensorInfo): Float32Array {
  const v = b.data.get(t.dataId).values;
  if (!(v instanceof Float32Array)) throw new Error(`${PIXEL_NORM}: float32 input expected`);
  return v;
}

/** y = x * r per row of `c` channels, r = 1 / sqrt(mean(x²) + eps). */
export function pixelNormJs(x: Float32Array, c: number, eps: number, y: Float32Array): void {
  for (let o = 0; o < x.length; o += c) {
    let s = 0;
    for (let k = o; k < o + c; k++) s += x[k] * x[k];
    const r = 1 / Math.sqrt(s / c + eps);
    for (let k = o; k < o + c; k++) y[k] = x[k] * r;
  }
}

/** dx = r dy - (r³ / c) x (x · dy) per row: the gradient of `pixelNormJs`. */
export function pixelNormGradJs(
  dy: Float32Array,
  x: Float32Array,
  c: number,
  eps: number,
  dx: Float32Array,
): void {
  for (let o = 0; o < x.length; o += c) {
    let s = 0, dot = 0;
    for (let k = o; k < o + c; k++) {
      s += x[k] * x[k];
      dot += x[k] * dy[k];
    }
    const r = 1 / Math.sqrt(s / c + eps);
    const f = (r * r * r * dot) / c;
    for (let k = o; k < o + c; k++) dx[k] = r * dy[k] - f * x[k];
  }
}

/** Registers both kernels on the given JS-array backends (idempotent). */
export function registerPixelNorm(backendNames: string[]): void {
  for (const backendName of backendNames) {
    if (tf.getKernel(PIXEL_NORM, backendName)) continue;
    tf.registerKernel({
      kernelName: PIXEL_NORM,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as CpuBackend;
        const { x } = inputs as { x: tf.TensorInfo };
        const out = new Float32Array(tf.util.sizeFromShape(x.shape));
        pixelNormJs(values(b, x), x.shape[x.shape.length - 1], (attrs as { eps: number }).eps, out);
        return b.makeTensorInfo([...x.shape], "float32", out);
      },
    });
    tf.registerKernel({
      kernelName: PIXEL_NORM_GRAD,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as CpuBackend;
        const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
        const out = new Float32Array(tf.util.sizeFromShape(x.shape));
        const c = x.shape[x.shape.length - 1], eps = (attrs as { eps: number }).eps;
        pixelNormGradJs(values(b, dy), values(b, x), c, eps, out);
        return b.makeTensorInfo([...x.shape], "float32", out);
      },
    });
  }
}

/**
 * The normalisation on the current backend: the fused kernels where registered, else tfjs ops.
 * The fused gradient has no gradient of its own (tfjs says so if a second-order gradient is
 * taken through it; WGAN-GP and R1 differentiate only through the discriminator).
 */
export function pixelNorm<T extends tf.Tensor>(x: T, eps = 1e-8): T {
  if (x.dtype !== "float32" || !tf.getKernel(PIXEL_NORM, tf.getBackend())) {
    return tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps)));
  }
  const op = tf.customGrad((input, save) => {
    const xt = input as tf.Tensor;
    (save as tf.GradSaveFunc)([xt]);
    return {
      value: tf.engine().runKernel(PIXEL_NORM, { x: xt }, { eps }) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.engine().runKernel(PIXEL_NORM_GRAD, { dy, x: saved[0] }, { eps }) as tf.Tensor,
    };
  });
  return op(x) as T;
}
