/**
 * One-stage training's per-sample factor gamma(p) (losses.ts) computed on the tensor backend,
 * for backends that cannot read the logits back to the host in the middle of a step (WebGPU).
 * Same formulas as the host versions in losses.ts, in float32 tensor ops.
 */
import * as tf from "@tensorflow/tfjs";
import type { GanLoss } from "./losses.ts";

/** gamma of `loss` at the fake logits `p` (one per sample), shaped [n, 1, 1, 1]. */
export function gammaTensor(loss: GanLoss, p: tf.Tensor): tf.Tensor4D {
  return tf.tidy(() => {
    const flat = tf.reshape(p, [-1, 1, 1, 1]) as tf.Tensor4D;
    switch (loss.name) {
      // -exp(-p), clamped at exp(80) as the host version.
      case "logistic":
        return tf.neg(tf.exp(tf.minimum(tf.neg(flat), 80)));
      case "wgan":
        return tf.fill(flat.shape, -1) as tf.Tensor4D;
      default:
        throw new Error(`one-stage training has no gamma for the ${loss.name} loss`);
    }
  });
}
