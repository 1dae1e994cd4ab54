import * as tf from "@tensorflow/tfjs";
import { assert, assertAllClose, assertEquals } from "../tests/assert.ts";
import { initBackend } from "../backend/mod.ts";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import { conv2d, dense, downsample2x, separableRecompute } from "./layers.ts";
import { upsample2x } from "./upsample.ts";
import { testBackends } from "../backend/onednn/test_gate.ts";
import { noWebGpu, sayIfIgnored } from "../backend/webgpu/gpu_available.ts";

await initBackend("cpu");

function variance(a: Float32Array): number {
  const m = a.reduce((s, v) => s + v, 0) / a.length;
  return a.reduce((s, v) => s + (v - m) ** 2, 0) / a.length;
}

Deno.test("equalized-LR layers store N(0,1) weights and give unit-variance outputs at init", () => {
  const rng = new Rng(1);
  const p = new Params(rng.fork());
  const x = tf.tensor4d(rng.normalArray(8 * 16 * 16 * 64), [8, 16, 16, 64]);
  // Interior pixels only: 'same' padding zeros part of the border windows.
  const y = conv2d(p, "c", x, 64, { equalized: true, gain: 1 }).slice([0, 1, 1, 0], [
    8,
    14,
    14,
    64,
  ]);
  const yv = variance(y.dataSync() as Float32Array);
  assert(Math.abs(yv - 1) < 0.05, `conv output variance ${yv}`);
  const wv = variance(p.vars.get("c.w")!.dataSync() as Float32Array);
  assert(Math.abs(wv - 1) < 0.05, `stored weight variance ${wv}`);
  const x2 = tf.tensor2d(rng.normalArray(512 * 256), [512, 256]);
  const dv = variance(
    dense(p, "fc", x2, 128, { equalized: true, gain: 1 }).dataSync() as Float32Array,
  );
  assert(Math.abs(dv - 1) < 0.05, `dense output variance ${dv}`);
  tf.disposeVariables();
});

Deno.test("separable conv equals a dense conv whose kernel is depthwise x pointwise", () => {
  const rng = new Rng(2);
  const p = new Params(rng.fork());
  const [k, ci, co] = [3, 5, 7];
  const x = tf.tensor4d(rng.normalArray(2 * 9 * 11 * ci), [2, 9, 11, ci]);
  const y = conv2d(p, "s", x, co, { separable: true, bias: false });
  assertEquals(p.names(), ["s.dw", "s.pw"]);
  assertEquals(p.count(), k * k * ci + ci * co); // vs k*k*ci*co for a dense conv
  const dw = p.vars.get("s.dw")!.dataSync(), pw = p.vars.get("s.pw")!.dataSync();
  const w = new Float32Array(k * k * ci * co);
  for (let t = 0; t < k * k; t++) {
    for (let i = 0; i < ci; i++) {
      for (let o = 0; o < co; o++) w[(t * ci + i) * co + o] = dw[t * ci + i] * pw[i * co + o];
    }
  }
  const ref = tf.conv2d(x, tf.tensor4d(w, [k, k, ci, co]), 1, "same");
  assertAllClose(y.dataSync(), ref.dataSync(), { rtol: 1e-5, atol: 1e-5 });
  tf.disposeVariables();
});

Deno.test("downsample2x is the 2x2 box average and has a second-order gradient", () => {
  const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], [1, 4, 4, 1]);
  assertAllClose(downsample2x(x).dataSync(), [3.5, 5.5, 11.5, 13.5]);
  // d/dx sum((d/dx sum(down(x)^2))^2) exists (avgPool's gradient has none in tfjs).
  const g2 = tf.grad((a: tf.Tensor) =>
    tf.sum(
      tf.square(tf.grad((b: tf.Tensor) => tf.sum(tf.square(downsample2x(b as tf.Tensor4D))))(a)),
    )
  )(x);
  // inner grad: 2 * mean_block / 4 per pixel; outer: d/dx sum over pixels of (m/2)^2 = ...
  // For each block, 4 pixels each (m/2)^2 -> m^2; d m^2 / dx = 2m/4 = m/2 per pixel.
  const blockMean = [3.5, 5.5, 11.5, 13.5];
  const expected = [...Array(16).keys()].map((i) => {
    const r = Math.floor(i / 4), c = i % 4;
    return blockMean[Math.floor(r / 2) * 2 + Math.floor(c / 2)] / 2;
  });
  assertAllClose(g2.dataSync(), expected, { rtol: 1e-6 });
});

Deno.test("separable conv with recompute: same output and gradients, depthwise output not kept", () => {
  const rng = new Rng(4);
  const x = tf.tensor4d(rng.normalArray(2 * 8 * 8 * 6), [2, 8, 8, 6]);
  const dw = tf.tensor4d(rng.normalArray(3 * 3 * 6), [3, 3, 6, 1]);
  const pw = tf.tensor4d(rng.normalArray(6 * 5), [1, 1, 6, 5]);
  const dy = tf.tensor4d(rng.normalArray(2 * 8 * 8 * 5), [2, 8, 8, 5]);
  const plain = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
    tf.conv2d(
      tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, "same"),
      c as tf.Tensor4D,
      1,
      "same",
    );
  const recomputed = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
    separableRecompute(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, 1);
  assertAllClose(recomputed(x, dw, pw).dataSync(), plain(x, dw, pw).dataSync(), { atol: 1e-5 });
  const gp = tf.grads(plain)([x, dw, pw], dy), gr = tf.grads(recomputed)([x, dw, pw], dy);
  for (let i = 0; i < 3; i++) assertAllClose(gr[i].dataSync(), gp[i].dataSync(), { atol: 1e-4 });
  // With bias and leaky ReLU folded in (the activation's gradient read from the output).
  const bias = tf.tensor1d(rng.normalArray(5));
  const plainAct = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) =>
    tf.leakyRelu(tf.add(plain(a, b, c), d), 0.2);
  const recomputedAct = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) =>
    separableRecompute(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, 1, {
      bias: d,
      slope: 0.2,
    });
  const args = [x, dw, pw, bias];
  assertAllClose(recomputedAct(x, dw, pw, bias).dataSync(), plainAct(x, dw, pw, bias).dataSync(), {
    atol: 1e-5,
  });
  const gpa = tf.grads(plainAct)(args, dy), gra = tf.grads(recomputedAct)(args, dy);
  for (let i = 0; i < 4; i++) assertAllClose(gra[i].dataSync(), gpa[i].dataSync(), { atol: 1e-4 });
  // With the 2x nearest upsampling folded in too (input 4x4, conv at 8x8).
  const small = tf.tensor4d(rng.normalArray(2 * 4 * 4 * 6), [2, 4, 4, 6]);
  const plainUp = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) =>
    plainAct(tf.image.resizeNearestNeighbor(a as tf.Tensor4D, [8, 8]), b, c, d);
  const recomputedUp = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) =>
    separableRecompute(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, 1, {
      bias: d,
      slope: 0.2,
      upsample: true,
    });
  const upArgs = [small, dw, pw, bias];
  assertAllClose(
    recomputedUp(small, dw, pw, bias).dataSync(),
    plainUp(small, dw, pw, bias).dataSync(),
    { atol: 1e-5 },
  );
  const gpu = tf.grads(plainUp)(upArgs, dy), gru = tf.grads(recomputedUp)(upArgs, dy);
  for (let i = 0; i < 4; i++) assertAllClose(gru[i].dataSync(), gpu[i].dataSync(), { atol: 1e-4 });
  // Bytes alive right after the forward pass under a gradient tape. The recomputing op holds its
  // output and what customGrad saves for backward (tfjs keeps copies of x, dw, pw and the
  // output): no depthwise output (2x8x8x6 floats), which the plain version keeps.
  const liveAfterForward = (f: typeof plain) => {
    const before = tf.memory().numBytes;
    let bytes = 0;
    tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
      const y = f(a, b, c);
      bytes = tf.memory().numBytes - before;
      return y;
    })([x, dw, pw], dy).forEach((g) => g.dispose());
    return bytes;
  };
  const floats = (2 * 8 * 8 * 6 + 3 * 3 * 6 + 6 * 5) + 2 * (2 * 8 * 8 * 5); // x, dw, pw; y twice
  assertEquals(liveAfterForward(recomputed), 4 * floats);
  assert(liveAfterForward(plain) >= 4 * (2 * 8 * 8 * 6 + 2 * 8 * 8 * 5), "plain keeps its mid");
});

sayIfIgnored("the WebGPU upsampling-conv test");

/**
 * An upsampling layer (conv2d's `upsample`, lean or not, with or without leaky ReLU, equalized)
 * and the same weights on an explicitly upsampled input: output, input gradient and weight
 * gradients (bias gradient last), as host arrays.
 */
async function upLayer(
  viaOption: boolean,
  o: { lean: boolean; lrelu: boolean; equalized: boolean },
): Promise<Float32Array[]> {
  const p = new Params(new Rng(7));
  const x = tf.tensor4d(new Rng(8).normalArray(2 * 3 * 5 * 4), [2, 3, 5, 4]);
  const dy = tf.tensor4d(new Rng(9).normalArray(2 * 6 * 10 * 6), [2, 6, 10, 6]);
  const f = (a: tf.Tensor4D) =>
    viaOption
      ? conv2d(p, "u", a, 6, { ...o, upsample: true })
      : conv2d(p, "u", upsample2x(a), 6, { ...o, lean: false });
  tf.tidy(() => f(x)); // creates the weights
  const vars = [p.vars.get("u.w")!, p.vars.get("u.b")!];
  const y = f(x);
  const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D), dy)))(x);
  const { grads } = tf.variableGrads(() => tf.sum(tf.mul(f(x), dy)), vars);
  const ts = [y, dx, ...vars.map((v) => grads[v.name])];
  const out = (await Promise.all(ts.map((t) => t.data()))).map((v) => Float32Array.from(v));
  tf.dispose([x, dy, y, dx, ...Object.values(grads)]);
  p.dispose();
  return out;
}

const UP_OPTIONS = [
  { lean: true, lrelu: true, equalized: false },
  { lean: false, lrelu: true, equalized: true },
  { lean: false, lrelu: false, equalized: false },
  { lean: true, lrelu: false, equalized: true },
];

for (const backend of testBackends) {
  Deno.test(`${backend}: conv2d's upsample option (phase convs) = conv2d of the upsampled input, values and gradients`, async () => {
    await initBackend(backend);
    for (const o of UP_OPTIONS) {
      const got = await upLayer(true, o), want = await upLayer(false, o);
      got.forEach((g, i) => {
        const scale = want[i].reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        assertAllClose(g, want[i], { atol: 1e-5 * scale, msg: `${JSON.stringify(o)} output ${i}` });
      });
    }
  });
}

Deno.test({
  name:
    "webgpu: conv2d's upsample option (upsample + conv there) matches the cpu backend's phase convs",
  ignore: noWebGpu !== null,
  fn: async () => {
    for (const o of UP_OPTIONS) {
      await initBackend("cpu");
      const cpu = await upLayer(true, o);
      await initBackend("webgpu");
      const gpu = await upLayer(true, o);
      gpu.forEach((g, i) => {
        const scale = cpu[i].reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        assertAllClose(g, cpu[i], { atol: 2e-3 * scale, msg: `${JSON.stringify(o)} output ${i}` });
      });
    }
    await initBackend("cpu");
  },
});
