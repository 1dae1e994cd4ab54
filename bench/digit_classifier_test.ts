import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "../tests/assert.ts";
import { initBackend } from "../backend/mod.ts";
import {
  accuracy,
  classProbabilities,
  classShares,
  confidentShare,
  firstChannel,
  totalVariation,
  trainClassifier,
} from "./digit_classifier.ts";

await initBackend("cpu");

Deno.test("confidentShare and accuracy: hand-computed rows", () => {
  // 4 rows of 3 classes: maxima 0.92 (class 0), 0.5 (class 2), 0.95 (class 1), 0.4 (class 1; tie
  // with class 2 broken by the first maximum).
  const probs = new Float32Array([
    0.92,
    0.04,
    0.04,
    0.2,
    0.3,
    0.5,
    0.03,
    0.95,
    0.02,
    0.2,
    0.4,
    0.4,
  ]);
  assertEquals(confidentShare(probs, 3, 0.9), 0.5);
  assertEquals(confidentShare(probs, 3, 0.5), 0.75);
  assertEquals(accuracy(probs, new Int32Array([0, 2, 1, 1]), 3), 1);
  assertEquals(accuracy(probs, new Int32Array([1, 2, 1, 2]), 3), 0.5);
  // Read as classes 0, 2, 1, 1.
  assertEquals(classShares(probs, 3), [0.25, 0.5, 0.25]);
  // |0.25 - 0.5| + |0.5 - 0.5| + |0.25 - 0| = 0.5, halved.
  assertEquals(totalVariation([0.25, 0.5, 0.25], [0.5, 0.5, 0]), 0.25);
  assertEquals(totalVariation([0.25, 0.5, 0.25], [0.25, 0.5, 0.25]), 0);
});

Deno.test("firstChannel: channel 0 of each pixel, scaled", () => {
  const rgb = [0, 9, 9, 4, 9, 9, 1, 9, 9, 2, 9, 9]; // 1 image 2x2x3
  assertEquals([...firstChannel(rgb, 1, [2, 2, 3], (v) => v / 4)], [0, 1, 0.25, 0.5]);
});

Deno.test("trainClassifier: learns two shapes (bars) and is the same for the same seed", () => {
  // Class 0: a vertical bar, class 1: a horizontal bar, at random positions, in 8x8 images.
  const n = 64, per = 64;
  const images = new Float32Array(n * per).fill(-1), labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 2;
    const at = 1 + ((i * 5) % 6);
    for (let t = 0; t < 8; t++) images[i * per + (labels[i] ? at * 8 + t : t * 8 + at)] = 1;
  }
  const o = { classes: 2, epochs: 5, batch: 16, seed: 3 };
  const a = trainClassifier(images, labels, [8, 8], o);
  const probs = classProbabilities(a, images, [8, 8], 2, 50);
  assertEquals(accuracy(probs, labels, 2), 1);
  assert(confidentShare(probs, 2, 0.9) > 0.9);
  const b = trainClassifier(images, labels, [8, 8], o);
  assertEquals(classProbabilities(b, images, [8, 8], 2), probs);
  tf.disposeVariables();
});
