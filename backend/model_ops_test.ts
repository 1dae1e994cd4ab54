/**
 * The model-level ops the backend issue lists beyond the replaced kernels (transposed conv,
 * bilinear resize, batch and instance norm, GLU, tanh, FastGAN's fused batch norm + GLU): forward
 * and gradient on every JS-array
 * backend against PyTorch (tests/fixtures/backend/make_model_ops.py). Each gradient is of
 * sum(out * r) for a fixed random r, so every output element's gradient path is exercised.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertAllClose } from "../tests/assert.ts";
import { initBackend } from "./mod.ts";
import { hasOneDnn } from "./onednn/test_gate.ts";
import { batchNorm } from "./patches/tfjs_bug_fixes.ts";
import { glu } from "../models/fastgan.ts";
import { batchNormGlu } from "../models/lean_bn_glu.ts";

type Case = Record<string, number[]>;
const cases = JSON.parse(
  await Deno.readTextFile(new URL("../tests/fixtures/backend/model_ops.json", import.meta.url)),
) as Record<string, Case>;

const backends = hasOneDnn ? ["onednn", "cpu"] : ["cpu"];
const TOL = { rtol: 1e-4, atol: 1e-4 };

const t = (c: Case, name: string) => tf.tensor(c[name], c[name + "Shape"]);

/** Checks out = f(inputs) and d sum(out * r) / d input against the fixture. */
function check(c: Case, inputs: string[], f: (...xs: tf.Tensor[]) => tf.Tensor, label: string) {
  const xs = inputs.map((n) => t(c, n));
  const y = f(...xs);
  assertAllClose(y.dataSync(), c.y, { ...TOL, msg: `${label} forward` });
  const r = tf.tensor(c.r, c.yShape);
  const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), r)))(xs);
  inputs.forEach((n, i) =>
    assertAllClose(grads[i].dataSync(), c["d" + n], { ...TOL, msg: `${label} d/d${n}` })
  );
}

/** Batch or instance statistics over `axes`, normalised with eps (biased variance, as torch). */
function normalise(x: tf.Tensor, axes: number[], eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, axes, true);
  return batchNorm(x, mean, variance, undefined, undefined, eps);
}

for (const backend of backends) {
  Deno.test(`${backend}: transposed conv, bilinear resize, batch/instance norm, GLU, tanh match torch`, async () => {
    await initBackend(backend as "cpu" | "onednn");
    assert(tf.getBackend() === backend);
    const ct = cases.convTranspose;
    check(ct, ["x", "f"], (x, f) => {
      const [n, h, w] = x.shape;
      const out = [n, 2 * h!, 2 * w!, f.shape[2]!] as [number, number, number, number];
      return tf.conv2dTranspose(x as tf.Tensor4D, f as tf.Tensor4D, out, 2, "same");
    }, "conv2dTranspose");
    for (const name of ["bilinearUp", "bilinearDown"]) {
      const c = cases[name];
      check(
        c,
        ["x"],
        (x) => tf.image.resizeBilinear(x as tf.Tensor4D, c.size as [number, number], false, true),
        name,
      );
    }
    check(
      cases.batchNorm,
      ["x", "g", "b"],
      (x, g, b) => tf.add(tf.mul(normalise(x, [0, 1, 2], 1e-5), g), b),
      "batch norm",
    );
    check(cases.instanceNorm, ["x"], (x) => normalise(x, [1, 2], 1e-5), "instance norm");
    check(cases.glu, ["x"], (x) => glu(x as tf.Tensor4D), "GLU");
    check(cases.tanh, ["x"], (x) => tf.tanh(x), "tanh");
    check(
      cases.batchNormGlu,
      ["x", "g", "b"],
      (x, g, b) => batchNormGlu(x as tf.Tensor4D, g, b, 1e-5),
      "batch norm + GLU (one op)",
    );
  });
}

Deno.test("bilinear resize has a second-order gradient (ResizeBilinearGrad's own gradient)", async () => {
  await initBackend(backends[0] as "cpu" | "onednn");
  // f(x) = sum(R(x)^2) / 2 is quadratic: d/dx <grad f, v> = R^T R v = d/dx sum(R(x) * R(v)).
  const R = (a: tf.Tensor) => tf.image.resizeBilinear(a as tf.Tensor4D, [7, 5], false, true);
  const x = tf.randomNormal([2, 4, 3, 2], 0, 1, "float32", 1);
  const v = tf.randomNormal([2, 4, 3, 2], 0, 1, "float32", 2);
  const hvp = tf.grad((a: tf.Tensor) =>
    tf.sum(tf.mul(tf.grad((b: tf.Tensor) => tf.div(tf.sum(tf.square(R(b))), 2))(a), v))
  )(x);
  const rtrv = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(R(a), R(v))))(x);
  assertAllClose(hvp.dataSync(), rtrv.dataSync(), { rtol: 1e-4, atol: 1e-5 });
});
