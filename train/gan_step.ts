/**
 * One two-stage GAN step: a discriminator update on real and generated samples, then a generator
 * update through the updated discriminator (non-saturating logistic losses). Shared by the
 * training loop and the benchmarks so they time exactly what training runs.
 */
import * as tf from "@tensorflow/tfjs";
import type { Params } from "../nn/params.ts";
import type { Adam } from "./adam.ts";
import { dLossFn, gLossFn } from "./losses.ts";

export interface StepNets {
  g: Params;
  d: Params;
  G(z: tf.Tensor2D): tf.Tensor4D;
  /** One logit per sample. */
  D(x: tf.Tensor4D): tf.Tensor;
}

export function twoStageStep(
  nets: StepNets,
  real: tf.Tensor4D,
  z1: tf.Tensor2D,
  z2: tf.Tensor2D,
  optD: Adam,
  optG: Adam,
): { d: number; g: number } {
  // Generated outside the gradient scope: the D step does not backpropagate into G.
  const fake = nets.G(z1);
  const dStep = tf.variableGrads(() => dLossFn(nets.D(real), nets.D(fake)), nets.d.list());
  optD.apply(nets.d, dStep.grads);
  const gStep = tf.variableGrads(() => gLossFn(nets.D(nets.G(z2))), nets.g.list());
  optG.apply(nets.g, gStep.grads);
  const losses = { d: dStep.value.dataSync()[0], g: gStep.value.dataSync()[0] };
  tf.dispose([
    fake,
    dStep.value,
    gStep.value,
    ...Object.values(dStep.grads),
    ...Object.values(gStep.grads),
  ]);
  return losses;
}
