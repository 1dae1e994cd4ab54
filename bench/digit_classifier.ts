/**
 * How legible generated samples of a labelled dataset are (MNIST digits, say): a small classifier
 * trained on the real images reads each sample, and the share it reads with confidence at least a
 * threshold counts as legible. SWD compares local patch statistics, which a sample can match
 * while its shape is ambiguous (half a 4, half a 9); the classifier judges the shape.
 *
 * Images are single-channel [n, h, w, 1] in [-1, 1] (the first channel of RGB, as the prepared
 * data stores gray images as three equal channels). Training is seeded (weights and batch order
 * from nn/rng.ts), so one backend gives one classifier.
 */
import * as tf from "@tensorflow/tfjs";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import { conv2d, dense } from "../models/layers.ts";
import { Adam } from "../train/adam.ts";

export interface ClassifierOptions {
  classes: number;
  /** Passes over the training images (default 8). */
  epochs?: number;
  /** Images per step (default 64). */
  batch?: number;
  seed?: number;
  /** Called after each epoch with its mean loss. */
  onEpoch?: (epoch: number, loss: number) => void;
}

/** Three stride-2 convs and a linear layer: logits [n, classes]. */
export function classifierLogits(p: Params, x: tf.Tensor4D, classes: number): tf.Tensor2D {
  return tf.tidy(() => {
    let h = x;
    for (const [i, c] of [32, 64, 64].entries()) {
      h = conv2d(p, `cls.c${i}`, h, c, { stride: 2, lrelu: true });
    }
    return dense(p, "cls.fc", tf.reshape(h, [h.shape[0], -1]) as tf.Tensor2D, classes, {
      gain: 1,
    });
  });
}

/** Trains the classifier on `images` [n, h, w, 1] with integer `labels`; returns its weights. */
export function trainClassifier(
  images: Float32Array,
  labels: Int32Array,
  [h, w]: [number, number],
  o: ClassifierOptions,
): Params {
  const n = labels.length, per = h * w, batch = o.batch ?? 64;
  if (images.length !== n * per) {
    throw new Error(`trainClassifier: ${images.length} values for ${n} images of ${h}x${w}`);
  }
  const rng = new Rng(o.seed ?? 0);
  const p = new Params(rng.fork());
  tf.tidy(() => classifierLogits(p, tf.zeros([1, h, w, 1]), o.classes));
  const opt = new Adam({ lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
  const x = new Float32Array(batch * per), y = new Int32Array(batch);
  for (let epoch = 0; epoch < (o.epochs ?? 8); epoch++) {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) { // Fisher-Yates, from the seeded stream
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    let sum = 0, steps = 0;
    for (let s = 0; s + batch <= n; s += batch) {
      for (let i = 0; i < batch; i++) {
        const j = order[s + i];
        x.set(images.subarray(j * per, (j + 1) * per), i * per);
        y[i] = labels[j];
      }
      const xs = tf.tensor4d(x, [batch, h, w, 1]);
      const ys = tf.oneHot(tf.tensor1d(y, "int32"), o.classes);
      const r = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(ys, classifierLogits(p, xs, o.classes)) as tf.Scalar,
        p.list(),
      );
      opt.apply(p, r.grads);
      sum += r.value.dataSync()[0];
      steps++;
      tf.dispose([xs, ys, r.value, ...Object.values(r.grads)]);
    }
    o.onEpoch?.(epoch, sum / steps);
  }
  opt.dispose();
  return p;
}

/** Class probabilities [count, classes] of `images` [count, h, w, 1], in slices of `slice`. */
export function classProbabilities(
  p: Params,
  images: Float32Array,
  [h, w]: [number, number],
  classes: number,
  slice = 500,
): Float32Array {
  const per = h * w, count = images.length / per;
  const out = new Float32Array(count * classes);
  for (let s = 0; s < count; s += slice) {
    const m = Math.min(slice, count - s);
    const probs = tf.tidy(() =>
      tf.softmax(
        classifierLogits(
          p,
          tf.tensor4d(images.subarray(s * per, (s + m) * per), [m, h, w, 1]),
          classes,
        ),
      )
    );
    out.set(probs.dataSync(), s * classes);
    probs.dispose();
  }
  return out;
}

/** The share of rows of `probs` [n, classes] whose largest probability is >= `threshold`. */
export function confidentShare(probs: Float32Array, classes: number, threshold: number): number {
  const n = probs.length / classes;
  let confident = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let k = 0; k < classes; k++) best = Math.max(best, probs[i * classes + k]);
    if (best >= threshold) confident++;
  }
  return confident / n;
}

/** Row `i`'s most probable class (the first maximum wins ties). */
function predicted(probs: Float32Array, classes: number, i: number): number {
  let best = 0;
  for (let k = 1; k < classes; k++) {
    if (probs[i * classes + k] > probs[i * classes + best]) best = k;
  }
  return best;
}

/** The share of rows of `probs` whose most probable class is `labels`' (first maximum wins). */
export function accuracy(probs: Float32Array, labels: Int32Array, classes: number): number {
  let right = 0;
  for (let i = 0; i < labels.length; i++) if (predicted(probs, classes, i) === labels[i]) right++;
  return right / labels.length;
}

/**
 * The share of rows read as each class: how a generator spreads its samples over the digits (a
 * generator of one clean digit would be perfectly legible and score badly here).
 */
export function classShares(probs: Float32Array, classes: number): number[] {
  const n = probs.length / classes, shares = new Array(classes).fill(0);
  for (let i = 0; i < n; i++) shares[predicted(probs, classes, i)] += 1 / n;
  return shares;
}

/** Total variation distance between two distributions: half the summed absolute differences. */
export function totalVariation(p: number[], q: number[]): number {
  return p.reduce((sum, v, k) => sum + Math.abs(v - q[k]), 0) / 2;
}

/** The first channel of `count` images [count, h, w, c] mapped to [-1, 1] by `scale`. */
export function firstChannel(
  src: ArrayLike<number>,
  count: number,
  [h, w, c]: [number, number, number],
  scale: (v: number) => number,
): Float32Array {
  const out = new Float32Array(count * h * w);
  for (let i = 0; i < out.length; i++) out[i] = scale(src[i * c]);
  return out;
}
