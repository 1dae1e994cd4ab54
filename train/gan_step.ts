/**
 * One GAN training step, two ways:
 * - two-stage (the usual loop): a discriminator update on real and generated samples, then a
 *   generator update through the updated discriminator;
 * - one-stage (Shen et al. 2021): one forward of G and D and one backward of D's loss. Between
 *   G's output and D's input sits an identity whose backward multiplies each sample's gradient by
 *   gamma_i = (dL_G/dp_i) / (dL_D/dp_i), so D receives exactly grad L_D and G exactly grad L_G.
 * The gradient functions are exported on their own so tests can compare them.
 * Shared by the training loop and the benchmarks so they time exactly what training runs.
 */
import * as tf from "@tensorflow/tfjs";
import type { Params } from "../nn/params.ts";
import type { Adam } from "./adam.ts";
import {
  type DRegularisers,
  GAN_LOSSES,
  type GanLoss,
  gradientPenalty,
  r1Penalty,
} from "./losses.ts";
import { onDevice } from "../backend/host_read.ts";
import { untaped } from "../backend/ops/untaped.ts";
import { gammaTensor } from "./one_stage_gamma.ts";

export interface StepNets {
  g: Params;
  d: Params;
  G(z: tf.Tensor2D): tf.Tensor4D;
  /** One logit per sample; `modes` (one-hot) for a mode-conditioned D. */
  D(x: tf.Tensor4D, modes?: tf.Tensor2D): tf.Tensor;
  /**
   * The same D built from lean layers (first-order, eager weight gradients), for the steps that
   * want D's weight gradients and no second order: D's own step without a penalty.
   */
  DLean?(x: tf.Tensor4D, modes?: tf.Tensor2D): tf.Tensor;
}

export interface StepBatch {
  real: tf.Tensor4D;
  /** Latents of D's fake samples (and G's, in one-stage training). */
  z1: tf.Tensor2D;
  /** Latents of G's step in two-stage training. */
  z2: tf.Tensor2D;
  /** Per-sample interpolation weights of the gradient penalty (when regularised). */
  eps?: tf.Tensor1D;
  /** A mode-conditioned D's one-hot modes: the real samples' (their clusters), z1's, z2's. */
  modes?: { real: tf.Tensor2D; z1: tf.Tensor2D; z2: tf.Tensor2D };
}

export interface StepOptions {
  loss: GanLoss;
  reg?: DRegularisers;
  /** Weight of D's R1 penalty this step (gamma / 2, times the interval of a lazy penalty). */
  r1Weight?: number;
  /**
   * Two-stage only: G's loss over just the `gTopK` samples D rates most real (Sinha et al.
   * 2020, top-k training), so G is not pulled towards the worst samples' gradients.
   */
  gTopK?: number;
}

type Grads = { value: tf.Scalar; grads: tf.NamedTensorMap };

export type Schedule = "two-stage" | "one-stage";

/** D's loss with its regularisers, for fake samples that carry no gradient to G. */
function dObjective(
  nets: StepNets,
  b: StepBatch,
  o: StepOptions,
  realLogits: tf.Tensor,
  fakeLogits: tf.Tensor,
  detachedFake: tf.Tensor4D,
): tf.Scalar {
  let loss = o.loss.d(realLogits, fakeLogits);
  if (o.reg) {
    if (!b.eps) throw new Error("gradient penalty needs per-sample eps");
    if (b.modes) throw new Error("the gradient penalty cannot mix samples of different modes");
    const gp = gradientPenalty(nets.D, b.real, detachedFake, b.eps, o.reg.gpTarget ?? 1);
    const drift = tf.mean(tf.square(realLogits));
    loss = tf.addN([loss, tf.mul(gp, o.reg.gpLambda), tf.mul(drift, o.reg.drift)]) as tf.Scalar;
  }
  if (o.r1Weight) {
    const D = (x: tf.Tensor4D) => nets.D(x, b.modes?.real);
    loss = tf.add(loss, tf.mul(r1Penalty(D, b.real), o.r1Weight)) as tf.Scalar;
  }
  return loss;
}

/** D for a step that takes D's weight gradients: lean unless a penalty needs second order. */
function dForOwnStep(
  nets: StepNets,
  o: StepOptions,
): (x: tf.Tensor4D, modes?: tf.Tensor2D) => tf.Tensor {
  return !o.reg && !o.r1Weight && nets.DLean ? nets.DLean : nets.D;
}

/** Gradients of L_D w.r.t. D (fake samples held fixed). */
export function discriminatorGrads(nets: StepNets, b: StepBatch, o: StepOptions): Grads {
  const fake = nets.G(b.z1); // outside the gradient scope: no backward into G
  const D = dForOwnStep(nets, o);
  const out = tf.variableGrads(
    () => dObjective(nets, b, o, D(b.real, b.modes?.real), D(fake, b.modes?.z1), fake),
    nets.d.list(),
  );
  fake.dispose();
  return out;
}

/** Gradients of L_G w.r.t. G through the current D (told `modes`, z's, if conditioned). */
export function generatorGrads(
  nets: StepNets,
  z: tf.Tensor2D,
  o: StepOptions,
  modes?: tf.Tensor2D,
): Grads {
  return tf.variableGrads(() => {
    const logits = nets.D(nets.G(z), modes);
    const k = o.gTopK;
    if (k === undefined || k >= logits.shape[0]!) return o.loss.g(logits);
    // The choice of samples is data to the gradient; only the chosen logits carry one.
    const chosen = untaped(() => tf.topk(tf.reshape(logits, [-1]), k).indices);
    return o.loss.g(tf.gather(logits, chosen));
  }, nets.g.list());
}

/** Refuses losses one-stage training cannot decompose exactly, saying why and what to use. */
export function assertOneStage(loss: GanLoss): asserts loss is GanLoss & { gamma: object } {
  if (!loss.gamma) {
    throw new Error(
      `one-stage training cannot use the ${loss.name} loss: its discriminator gradient is zero ` +
        "for some samples whose generator gradient is not, so no per-sample factor turns one into " +
        'the other. Use schedule "two-stage", or loss "logistic" or "wgan".',
    );
  }
}

/**
 * One backward for both: returns L_D, grads for every D and G variable (keyed by tfjs variable
 * name), and L_G's value for logging.
 */
export function oneStageGrads(
  nets: StepNets,
  b: StepBatch,
  o: StepOptions,
): Grads & { gValue: number } {
  assertOneStage(o.loss);
  if (b.modes) throw new Error("one-stage training does not take a mode-conditioned D");
  const gammaOf = o.loss.gamma;
  let gamma: Float32Array | null = null;
  let gValue = NaN;
  // Identity forward; backward scales sample i's gradient by gamma_i, known once D has run.
  const scaled = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.clone(args[0] as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => tf.mul(dy, tf.tensor4d(gamma!, [gamma!.length, 1, 1, 1])),
  }));
  const D = dForOwnStep(nets, o);
  const out = tf.variableGrads(() => {
    const fake = nets.G(b.z1);
    const fakeLogits = D(scaled(fake) as tf.Tensor4D);
    const p = fakeLogits.dataSync() as Float32Array;
    gamma = gammaOf(p);
    gValue = tf.tidy(() => o.loss.g(fakeLogits).dataSync()[0]);
    // The penalty's fake samples are data (a copy off the tape): it adds nothing to G's gradient.
    const detached = o.reg ? tf.tensor4d(fake.dataSync() as Float32Array, fake.shape) : fake;
    return dObjective(nets, b, o, D(b.real), fakeLogits, detached);
  }, [...nets.d.list(), ...nets.g.list()]);
  return { ...out, gValue };
}

/**
 * `oneStageGrads` for a backend that cannot read tensors back mid-step (WebGPU): gamma is
 * computed from the logits on the device, the penalty's fake samples are an untaped copy, and
 * L_G stays a tensor. Same maths; float32 exp instead of the host's float64 one.
 */
export function oneStageGradsOnDevice(
  nets: StepNets,
  b: StepBatch,
  o: StepOptions,
): Grads & { gValue: tf.Scalar } {
  assertOneStage(o.loss);
  if (b.modes) throw new Error("one-stage training does not take a mode-conditioned D");
  let gamma: tf.Tensor4D | null = null;
  let gValue: tf.Scalar | null = null;
  const scaled = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.clone(args[0] as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => tf.mul(dy, gamma!),
  }));
  const D = dForOwnStep(nets, o);
  const out = tf.variableGrads(() => {
    const fake = nets.G(b.z1);
    const fakeLogits = D(scaled(fake) as tf.Tensor4D);
    const detached = untaped(() => {
      gamma = tf.keep(gammaTensor(o.loss, fakeLogits));
      gValue = tf.keep(o.loss.g(fakeLogits));
      return o.reg ? tf.clone(fake) : fake;
    });
    return dObjective(nets, b, o, D(b.real), fakeLogits, detached);
  }, [...nets.d.list(), ...nets.g.list()]);
  (gamma as tf.Tensor | null)?.dispose();
  return { ...out, gValue: gValue! };
}

/**
 * One step as `ganStep`, with the losses left on the backend (no read back): what a training
 * loop on a GPU reads asynchronously every few steps.
 */
export function ganStepTensors(
  schedule: Schedule,
  nets: StepNets,
  b: StepBatch,
  optD: Adam,
  optG: Adam,
  o: StepOptions,
): { d: tf.Scalar; g: tf.Scalar } {
  if (schedule === "one-stage") {
    const step = onDevice() ? oneStageGradsOnDevice(nets, b, o) : oneStageGrads(nets, b, o);
    optD.apply(nets.d, step.grads);
    optG.apply(nets.g, step.grads);
    tf.dispose(Object.values(step.grads));
    const g = typeof step.gValue === "number" ? tf.scalar(step.gValue) : step.gValue;
    return { d: step.value, g };
  }
  const dStep = discriminatorGrads(nets, b, o);
  optD.apply(nets.d, dStep.grads);
  const gStep = generatorGrads(nets, b.z2, o, b.modes?.z2);
  optG.apply(nets.g, gStep.grads);
  tf.dispose([...Object.values(dStep.grads), ...Object.values(gStep.grads)]);
  return { d: dStep.value, g: gStep.value };
}

export function ganStep(
  schedule: Schedule,
  nets: StepNets,
  b: StepBatch,
  optD: Adam,
  optG: Adam,
  o: StepOptions,
): { d: number; g: number } {
  if (schedule === "one-stage") {
    const step = oneStageGrads(nets, b, o);
    optD.apply(nets.d, step.grads);
    optG.apply(nets.g, step.grads);
    const losses = { d: step.value.dataSync()[0], g: step.gValue };
    tf.dispose([step.value, ...Object.values(step.grads)]);
    return losses;
  }
  const dStep = discriminatorGrads(nets, b, o);
  optD.apply(nets.d, dStep.grads);
  const gStep = generatorGrads(nets, b.z2, o, b.modes?.z2);
  optG.apply(nets.g, gStep.grads);
  const losses = { d: dStep.value.dataSync()[0], g: gStep.value.dataSync()[0] };
  tf.dispose([
    dStep.value,
    gStep.value,
    ...Object.values(dStep.grads),
    ...Object.values(gStep.grads),
  ]);
  return losses;
}

/** The classic non-saturating logistic two-stage step (kept for the backend benchmarks). */
export function twoStageStep(
  nets: StepNets,
  real: tf.Tensor4D,
  z1: tf.Tensor2D,
  z2: tf.Tensor2D,
  optD: Adam,
  optG: Adam,
  loss: GanLoss = GAN_LOSSES.logistic,
): { d: number; g: number } {
  return ganStep("two-stage", nets, { real, z1, z2 }, optD, optG, { loss });
}
