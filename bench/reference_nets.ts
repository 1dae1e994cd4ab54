/**
 * The reference GAN of the backend issue (a DCGAN-like G and D at 32² or 64²), shared by the
 * host-backend timing (backend.ts) and the GPU one (backend_device.ts).
 */
import * as tf from "@tensorflow/tfjs";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import { Adam } from "../train/adam.ts";
import type { StepNets } from "../train/gan_step.ts";
import { conv2d, dense, lrelu } from "../models/layers.ts";

/** The latent size. */
export const Z = 128;

export function referenceNets(size: number) {
  const blocks = size === 64 ? [128, 64, 32, 16] : [128, 64, 32];
  // Each in its own tidy, as the models' networks are: D's step runs G outside any gradient
  // scope, where nothing else frees G's intermediate activations (they leaked, a batch of them per
  // step, and the fresh buffers and garbage collections that followed were timed with the step).
  const G = (p: Params, z: tf.Tensor2D) =>
    tf.tidy(() => {
      let h = tf.reshape(dense(p, "fc", z, 4 * 4 * 256), [-1, 4, 4, 256]) as tf.Tensor4D;
      // Nearest 2x upsampling + 3x3 conv + bias + leaky ReLU as G's blocks in models/ write it:
      // phase convs where the backend has them, bias and activation fused into the conv, and a
      // lean backward (models/layers.ts).
      const up = { upsample: true, lrelu: true, lean: true };
      blocks.forEach((c, i) => (h = conv2d(p, `c${i}`, h, c, up)));
      return tf.tanh(conv2d(p, "out", h, 3));
    });
  const D = (p: Params, x: tf.Tensor4D) =>
    tf.tidy(() => {
      let h = x;
      [32, 64, 128, 256].forEach((c, i) => (h = lrelu(conv2d(p, `c${i}`, h, c, { stride: 2 }))));
      const flat = tf.reshape(h, [h.shape[0], -1]) as tf.Tensor2D;
      return tf.reshape(dense(p, "fc", flat, 1), [-1]);
    });
  return { G, D };
}

/**
 * What a timed run of the reference step needs: both networks built (one forward pass), their
 * Adam optimizers with the backend issue's settings, a batch of "real" images and the seeded
 * generator for latents.
 */
export function referenceTraining(size: number, batch: number) {
  const { G, D } = referenceNets(size);
  const rng = new Rng(0);
  const g = new Params(rng.fork()), d = new Params(rng.fork());
  tf.tidy(() => D(d, G(g, tf.zeros([1, Z]))));
  const og = new Adam({ lr: 2e-4, beta1: 0.5, beta2: 0.999, eps: 1e-8 });
  const od = new Adam({ lr: 2e-4, beta1: 0.5, beta2: 0.999, eps: 1e-8 });
  const real = tf.tensor4d(rng.normalArray(batch * size * size * 3), [batch, size, size, 3]);
  const nets: StepNets = { g, d, G: (z) => G(g, z), D: (x) => D(d, x) };
  return { rng, g, d, og, od, real, nets };
}
