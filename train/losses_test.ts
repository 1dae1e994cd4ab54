import * as tf from "@tensorflow/tfjs";
import { assertAllClose } from "../tests/assert.ts";
import { initBackend } from "../backend/mod.ts";
import { r1Penalty } from "./losses.ts";

await initBackend("cpu");

Deno.test("R1: a quadratic D's input gradient is 2 a x; the penalty is mean_i sum 4 a^2 x_i^2", () => {
  const x = tf.tensor4d([1, -2, 0.5, 3, 0, -1, 2, 1], [2, 2, 2, 1]);
  const a = tf.variable(tf.scalar(0.7));
  const D = (t: tf.Tensor4D) => tf.sum(tf.mul(a, tf.square(t)), [1, 2, 3]);
  // Hand-computed: sample 0 sum x^2 = 1 + 4 + 0.25 + 9 = 14.25; sample 1 = 0 + 1 + 4 + 1 = 6.
  const expected = (4 * 0.49 * (14.25 + 6)) / 2;
  assertAllClose(r1Penalty(D, x).dataSync(), [expected], { rtol: 1e-5 });
  // Its derivative in D's weight (second order): d/da of 4 a^2 S = 8 a S, S = mean sum x^2.
  const { grads } = tf.variableGrads(() => r1Penalty(D, x), [a]);
  assertAllClose(grads[a.name].dataSync(), [8 * 0.7 * (14.25 + 6) / 2], { rtol: 1e-5 });
  tf.dispose([x, a, grads[a.name]]);
});

Deno.test("R1: a linear D gives ||w||^2 whatever the samples", () => {
  const w = tf.variable(tf.tensor4d([0.5, -1, 2, 0.25], [1, 2, 2, 1]));
  const D = (t: tf.Tensor4D) => tf.sum(tf.mul(t, w), [1, 2, 3]);
  const x = tf.tensor4d([9, 8, 7, 6, -5, 4, 3, 2, 1, 0, 1, 2], [3, 2, 2, 1]);
  assertAllClose(r1Penalty(D, x).dataSync(), [0.25 + 1 + 4 + 0.0625], { rtol: 1e-6 });
  tf.dispose([w, x]);
});
