/**
 * Functional layers over a `Params` store (nanoGPT style): each call names its weights, so the
 * same code builds and reuses them. NHWC activations, HWIO conv filters.
 */
import * as tf from "@tensorflow/tfjs";
import type { Params } from "../nn/params.ts";

/** He-normal init for a conv/dense with `fanIn` inputs (gain sqrt(2)). */
function heStd(fanIn: number, gain = Math.SQRT2): number {
  return gain / Math.sqrt(fanIn);
}

export function conv2d(
  p: Params,
  name: string,
  x: tf.Tensor4D,
  outChannels: number,
  opts: { kernel?: number; stride?: number; bias?: boolean; gain?: number } = {},
): tf.Tensor4D {
  const k = opts.kernel ?? 3;
  const inC = x.shape[3];
  const w = p.get(`${name}.w`, [k, k, inC, outChannels], {
    kind: "normal",
    std: heStd(k * k * inC, opts.gain),
  }) as tf.Variable<tf.Rank.R4>;
  let y = tf.conv2d(x, w, opts.stride ?? 1, "same");
  if (opts.bias ?? true) {
    y = tf.add(y, p.get(`${name}.b`, [outChannels], { kind: "const", value: 0 }));
  }
  return y;
}

export function dense(
  p: Params,
  name: string,
  x: tf.Tensor2D,
  out: number,
  opts: { gain?: number } = {},
): tf.Tensor2D {
  const w = p.get(`${name}.w`, [x.shape[1], out], {
    kind: "normal",
    std: heStd(x.shape[1], opts.gain),
  }) as tf.Variable<tf.Rank.R2>;
  return tf.add(tf.matMul(x, w), p.get(`${name}.b`, [out], { kind: "const", value: 0 }));
}

export function lrelu<T extends tf.Tensor>(x: T, alpha = 0.2): T {
  return tf.leakyRelu(x, alpha);
}

export function upsample2x(x: tf.Tensor4D): tf.Tensor4D {
  return tf.image.resizeNearestNeighbor(x, [x.shape[1] * 2, x.shape[2] * 2]);
}

export function downsample2x(x: tf.Tensor4D): tf.Tensor4D {
  return tf.avgPool(x, 2, 2, "valid");
}

/** ProGAN's pixelwise feature normalisation: each pixel's feature vector to unit RMS. */
export function pixelNorm(x: tf.Tensor4D, eps = 1e-8): tf.Tensor4D {
  return tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), 3, true), eps)));
}
