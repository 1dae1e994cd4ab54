/** GAN losses on logits (non-saturating logistic), shared by the GAN and autoencoder trainers. */
import * as tf from "@tensorflow/tfjs";

/** softplus(-D(real)) + softplus(D(fake)): -log sigmoid(real) - log(1 - sigmoid(fake)). */
export function dLossFn(real: tf.Tensor, fake: tf.Tensor): tf.Scalar {
  return tf.add(tf.mean(tf.softplus(tf.neg(real))), tf.mean(tf.softplus(fake))) as tf.Scalar;
}

/** softplus(-D(fake)): the non-saturating generator loss. */
export function gLossFn(fake: tf.Tensor): tf.Scalar {
  return tf.mean(tf.softplus(tf.neg(fake))) as tf.Scalar;
}
