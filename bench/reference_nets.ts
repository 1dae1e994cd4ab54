/**
 * The reference GAN of the backend issue (a DCGAN-like G and D at 32² or 64²), shared by the
 * host-backend timing (backend.ts) and the GPU one (backend_device.ts).
 */
import * as tf from "@tensorflow/tfjs";
import type { Params } from "../nn/params.ts";
import { conv2d, dense, lrelu } from "../models/layers.ts";
import { upsample2x } from "../models/upsample.ts";

/** The latent size. */
export const Z = 128;

export function referenceNets(size: number) {
  const blocks = size === 64 ? [128, 64, 32, 16] : [128, 64, 32];
  const G = (p: Params, z: tf.Tensor2D) => {
    let h = tf.reshape(dense(p, "fc", z, 4 * 4 * 256), [-1, 4, 4, 256]) as tf.Tensor4D;
    blocks.forEach((c, i) => (h = lrelu(conv2d(p, `c${i}`, upsample2x(h), c))));
    return tf.tanh(conv2d(p, "out", h, 3));
  };
  const D = (p: Params, x: tf.Tensor4D) => {
    let h = x;
    [32, 64, 128, 256].forEach((c, i) => (h = lrelu(conv2d(p, `c${i}`, h, c, { stride: 2 }))));
    return tf.reshape(dense(p, "fc", tf.reshape(h, [h.shape[0], -1]) as tf.Tensor2D, 1), [-1]);
  };
  return { G, D };
}
