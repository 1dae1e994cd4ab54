/** The fused pixel-norm kernels against a hand-computed case and the op-by-op formula. */
import * as tf from "@tensorflow/tfjs";
import { assertAllClose, assertThrows } from "../../tests/assert.ts";
import { initBackend } from "../mod.ts";
import { hasOneDnn } from "../onednn/test_gate.ts";
import { pixelNorm } from "./pixel_norm.ts";

const backends = hasOneDnn ? ["onednn", "cpu"] : ["cpu"];
const composite = (x: tf.Tensor, eps: number) =>
  tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps)));

for (const backend of backends) {
  Deno.test(`${backend}: pixelNorm forward and gradient, by hand and against tfjs ops`, async () => {
    await initBackend(backend as "cpu" | "onednn");
    // One pixel, two channels (3, 4): mean square 12.5, r = 1/sqrt(12.5).
    // y = (3r, 4r); with dy = (1, 0): dx = r (1, 0) - (r³ / 2) (3, 4) * 3.
    const x1 = tf.tensor4d([3, 4], [1, 1, 1, 2]);
    assertAllClose(pixelNorm(x1, 0).dataSync(), [0.848528, 1.131371], { atol: 1e-5 });
    const dy1 = tf.tensor4d([1, 0], [1, 1, 1, 2]);
    const g1 = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(pixelNorm(x, 0), dy1)))(x1);
    assertAllClose(g1.dataSync(), [0.181019, -0.135764], { atol: 1e-5 });

    const x = tf.randomNormal([3, 5, 4, 7], 0, 2, "float32", 1);
    const dy = tf.randomNormal([3, 5, 4, 7], 0, 1, "float32", 2);
    assertAllClose(pixelNorm(x, 1e-8).dataSync(), composite(x, 1e-8).dataSync(), { atol: 1e-5 });
    const f = (g: (t: tf.Tensor) => tf.Tensor) => (t: tf.Tensor) => tf.sum(tf.mul(g(t), dy));
    assertAllClose(
      tf.grad(f((t) => pixelNorm(t, 1e-3)))(x).dataSync(),
      tf.grad(f((t) => composite(t, 1e-3)))(x).dataSync(),
      { atol: 1e-5 },
    );
  });

  Deno.test(`${backend}: a second-order gradient through pixelNorm is refused, not wrong`, async () => {
    await initBackend(backend as "cpu" | "onednn");
    const x = tf.randomNormal([2, 2, 2, 3], 0, 1, "float32", 3);
    const g = (t: tf.Tensor) => tf.grad((u: tf.Tensor) => tf.sum(tf.square(pixelNorm(u))))(t);
    assertThrows(() => tf.grad((t: tf.Tensor) => tf.sum(g(t)))(x), "GanflowPixelNormGrad");
  });
}
