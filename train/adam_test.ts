import * as tf from "@tensorflow/tfjs";
import { assertAllClose } from "../tests/assert.ts";
import { initBackend } from "../backend/mod.ts";
import { Adam, emaUpdate } from "./adam.ts";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";

await initBackend("cpu");

Deno.test("Adam: one step matches the hand-computed update", () => {
  const p = new Params(new Rng(0));
  const v = p.get("w", [2], { kind: "const", value: 1 });
  v.assign(tf.tensor1d([1, -2]));
  const opt = new Adam({ lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
  const g = tf.tensor1d([0.5, -3]);
  opt.apply(p, { [v.name]: g });
  // t=1: m = 0.1 g, s = 0.001 g^2; mhat = g, shat = g^2 -> step = lr * g / (|g| + eps) = lr * sign(g)
  assertAllClose(v.dataSync(), [1 - 0.1, -2 + 0.1], { rtol: 1e-6 });
  opt.apply(p, { [v.name]: tf.tensor1d([0.5, 1]) });
  // t=2 for w0: m = 0.9*0.05 + 0.05 = 0.095, mhat = 0.095/0.19 = 0.5; s = 0.999*0.00025 + 0.00025,
  // shat = s / (1 - 0.999^2) = 0.25 -> step 0.1 * 0.5 / 0.5 = 0.1
  assertAllClose([v.dataSync()[0]], [0.8], { rtol: 1e-6 });
  p.dispose();
  opt.dispose();
});

Deno.test("EMA: closed form after k updates with a constant parameter", () => {
  const p = new Params(new Rng(0));
  const e = new Params(new Rng(0), false);
  const x = p.get("x", [1], { kind: "const", value: 3 });
  const y = e.get("x", [1], { kind: "const", value: 0 });
  for (let i = 0; i < 5; i++) emaUpdate([y], [x], 0.9);
  assertAllClose(y.dataSync(), [3 * (1 - 0.9 ** 5)], { rtol: 1e-6 });
  p.dispose();
  e.dispose();
});
