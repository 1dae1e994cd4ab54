/**
 * GAN losses on discriminator logits p. Each loss also says how one-stage training (Shen et al.
 * 2021) decomposes it: gamma(p) = (dL_G/dp) / (dL_D,fake/dp) per sample, the factor that turns
 * the discriminator's gradient at its fake input into the generator's. Losses where that ratio
 * does not exist (dL_D/dp is zero where dL_G/dp is not) have no gamma.
 */
import * as tf from "@tensorflow/tfjs";

export type GanLossName = "logistic" | "wgan" | "hinge";

export interface GanLoss {
  name: GanLossName;
  /** D's loss on the logits of real and of fake samples (regularisers not included). */
  d(real: tf.Tensor, fake: tf.Tensor): tf.Scalar;
  /** G's loss on the logits of fake samples. */
  g(fake: tf.Tensor): tf.Scalar;
  /** Per-sample gamma of one-stage training; null when the loss cannot be decomposed. */
  gamma: ((fake: Float32Array) => Float32Array) | null;
}

/** softplus(-D(real)) + softplus(D(fake)): -log sigmoid(real) - log(1 - sigmoid(fake)). */
export function dLossFn(real: tf.Tensor, fake: tf.Tensor): tf.Scalar {
  return tf.add(tf.mean(tf.softplus(tf.neg(real))), tf.mean(tf.softplus(fake))) as tf.Scalar;
}

/** softplus(-D(fake)): the non-saturating generator loss. */
export function gLossFn(fake: tf.Tensor): tf.Scalar {
  return tf.mean(tf.softplus(tf.neg(fake))) as tf.Scalar;
}

export const GAN_LOSSES: Record<GanLossName, GanLoss> = {
  // dL_D/dp = sigmoid(p)/N, dL_G/dp = -sigmoid(-p)/N: gamma = -exp(-p). Clamped so that a
  // logit below -80 (where f32 sigmoid underflows) gives a large finite factor, not inf * 0.
  logistic: {
    name: "logistic",
    d: dLossFn,
    g: gLossFn,
    gamma: (p) => p.map((v) => -Math.exp(Math.min(-v, 80))),
  },
  // Wasserstein: L_D = mean(fake) - mean(real), L_G = -mean(fake): symmetric, gamma = -1.
  wgan: {
    name: "wgan",
    d: (real, fake) => tf.sub(tf.mean(fake), tf.mean(real)) as tf.Scalar,
    g: (fake) => tf.neg(tf.mean(fake)) as tf.Scalar,
    gamma: (p) => new Float32Array(p.length).fill(-1),
  },
  // Hinge: dL_D/dp = 0 wherever p < -1, yet dL_G/dp = -1/N there: no per-sample factor exists.
  hinge: {
    name: "hinge",
    d: (real, fake) =>
      tf.add(tf.mean(tf.relu(tf.sub(1, real))), tf.mean(tf.relu(tf.add(1, fake)))) as tf.Scalar,
    g: (fake) => tf.neg(tf.mean(fake)) as tf.Scalar,
    gamma: null,
  },
};

/**
 * WGAN-GP's gradient penalty (Gulrajani et al.; ProGAN uses target 1, lambda 10):
 * mean_i (||dD/dx (x_i)|| - target)^2 at x_i = real_i + eps_i (fake_i - real_i), eps_i ~ U(0, 1).
 * Differentiable in D's weights (a second-order gradient).
 */
export function gradientPenalty(
  D: (x: tf.Tensor4D) => tf.Tensor,
  real: tf.Tensor4D,
  fake: tf.Tensor4D,
  eps: tf.Tensor1D,
  target = 1,
): tf.Scalar {
  const mixed = tf.add(real, tf.mul(tf.sub(fake, real), tf.reshape(eps, [-1, 1, 1, 1])));
  const grad = tf.grad((x: tf.Tensor) => tf.sum(D(x as tf.Tensor4D)))(mixed);
  const norms = tf.sqrt(tf.add(tf.sum(tf.square(tf.reshape(grad, [grad.shape[0], -1])), 1), 1e-12));
  return tf.mean(tf.square(tf.sub(norms, target))) as tf.Scalar;
}

/** D's regularisers for WGAN-GP: `lambda` * gradient penalty + `drift` * mean(D(real)^2). */
export interface DRegularisers {
  gpLambda: number;
  gpTarget?: number;
  drift: number;
}

/**
 * R1 (Mescheder et al. 2018): gamma / 2 * mean_i ||dD/dx (real_i)||^2, a penalty on D's gradient
 * at the real samples only. It keeps D from growing steep around the data, where a
 * non-saturating GAN otherwise oscillates. Differentiable in D's weights (second order).
 */
export function r1Penalty(D: (x: tf.Tensor4D) => tf.Tensor, real: tf.Tensor4D): tf.Scalar {
  const grad = tf.grad((x: tf.Tensor) => tf.sum(D(x as tf.Tensor4D)))(real);
  return tf.mean(tf.sum(tf.square(tf.reshape(grad, [grad.shape[0], -1])), 1)) as tf.Scalar;
}
