/**
 * The leaky-ReLU gradient as one op, `GanflowLeakyReluGrad`(dy, x) = dy where x > 0, else
 * alpha * dy (its kernels: onednn/leaky_relu_kernels.ts, registered when the backend starts).
 * Models that write their own backward (models/lean_conv.ts, models/layers.ts) call it here.
 */
import * as tf from "@tensorflow/tfjs";

export const LEAKY_GRAD = "GanflowLeakyReluGrad";

/** dy * (y > 0 ? 1 : slope): the leaky-ReLU gradient from the op's output (slope >= 0). */
export function leakyGradFromOutput(dy: tf.Tensor, y: tf.Tensor, slope: number): tf.Tensor {
  if (tf.getKernel(LEAKY_GRAD, tf.getBackend())) {
    return tf.engine().runKernel(LEAKY_GRAD, { dy, x: y }, { alpha: slope }) as tf.Tensor;
  }
  return tf.tidy(() =>
    tf.mul(dy, tf.where(tf.greater(y, 0), tf.onesLike(y), tf.fill(y.shape, slope)))
  );
}
