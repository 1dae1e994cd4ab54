/**
 * The onednn backend's element-wise kernels (oneDNN eltwise/binary/reduction primitives for large
 * tensors, JS loops for small ones), leaky-ReLU gradients, resize, and convolutions at GAN-like
 * sizes (blocked weight layouts), each against an independent reference: closed forms and
 * naive double-precision loops written here, or the tfjs cpu backend where its kernel is
 * correct. Shapes are odd and above/below the size where oneDNN takes over.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertAllClose, assertThrows } from "../../tests/assert.ts";
import { hasOneDnn, onCpu, useOneDnn } from "./test_gate.ts";
import { MIN_ELEMENTS, opPrimitiveCount } from "./eltwise_primitives.ts";
import { primitiveCount } from "./conv_kernels.ts";
import { Rng } from "../../nn/rng.ts";

const TOL = { rtol: 1e-4, atol: 1e-6 };
const BIG = [3, 37, 41, 11]; // 50,061 elements: oneDNN path
const SMALL = [2, 5, 7]; // JS path
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
assert(size(BIG) >= MIN_ELEMENTS && size(SMALL) < MIN_ELEMENTS);

function uniform(rng: Rng, n: number, lo: number, hi: number): Float32Array {
  return rng.uniformArray(n, lo, hi);
}

Deno.test({
  name:
    "onednn: unary ops (tanh, sigmoid, sqrt, square, relu, abs, neg, exp, leakyRelu) vs closed forms",
  ignore: !hasOneDnn,
  fn: async () => {
    await useOneDnn();
    const rng = new Rng(11);
    const cases: [string, (x: tf.Tensor) => tf.Tensor, (v: number) => number, number][] = [
      ["tanh", tf.tanh, Math.tanh, 4],
      ["sigmoid", tf.sigmoid, (v) => 1 / (1 + Math.exp(-v)), 6],
      ["sqrt", (x) => tf.sqrt(tf.abs(x)), (v) => Math.sqrt(Math.abs(v)), 9],
      ["square", tf.square, (v) => v * v, 3],
      ["relu", tf.relu, (v) => Math.max(v, 0), 2],
      ["abs", tf.abs, Math.abs, 2],
      ["neg", tf.neg, (v) => -v, 2],
      ["exp", tf.exp, Math.exp, 5],
      ["leakyRelu", (x) => tf.leakyRelu(x, 0.2), (v) => (v > 0 ? v : 0.2 * v), 3],
    ];
    const before = opPrimitiveCount();
    for (const shape of [BIG, SMALL]) {
      for (const [name, f, ref, range] of cases) {
        const x = uniform(rng, size(shape), -range, range);
        const y = tf.tidy(() => f(tf.tensor(x, shape)).dataSync());
        assertAllClose(y, x.map(ref), { ...TOL, msg: `${name} ${shape}` });
      }
    }
    assert(opPrimitiveCount() >= before + cases.length - 1, "oneDNN eltwise did not run");
  },
});

Deno.test({
  name: "onednn: leaky-ReLU gradient and its own gradient (second order) vs closed forms",
  ignore: !hasOneDnn,
  fn: async () => {
    await useOneDnn();
    const rng = new Rng(12);
    for (const shape of [BIG, SMALL]) {
      const n = size(shape);
      const x = uniform(rng, n, -2, 2), w = uniform(rng, n, -1, 1), u = uniform(rng, n, -1, 1);
      // The gradient reads the saved output; at x = 0 (either sign) it must still take the slope.
      x[0] = 0;
      x[1] = -0;
      const mask = (i: number) => (x[i] > 0 ? 1 : 0.2);
      const xt = tf.tensor(x, shape), wt = tf.tensor(w, shape), ut = tf.tensor(u, shape);
      const gx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.leakyRelu(a, 0.2), wt)))(xt);
      assertAllClose(gx.dataSync(), w.map((v, i) => v * mask(i)), { ...TOL, msg: `dx ${shape}` });
      // d/dw <d/dx sum(lrelu(x) w), u> = mask * u: the gradient kernel's gradient wrt dy.
      const gw = tf.grad((b: tf.Tensor) =>
        tf.sum(tf.mul(tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.leakyRelu(a, 0.2), b)))(xt), ut))
      )(wt);
      assertAllClose(gw.dataSync(), u.map((v, i) => v * mask(i)), { ...TOL, msg: `d2 ${shape}` });
      tf.dispose([xt, wt, ut, gx, gw]);
    }
    // A negative slope flips signs, so the output cannot tell where x > 0: refused, not wrong.
    const neg = tf.tensor([1, -1]);
    assertThrows(() => tf.grad((a: tf.Tensor) => tf.sum(tf.leakyRelu(a, -0.5)))(neg), "slope");
    neg.dispose();
  },
});

/** Naive broadcasting in double precision: the reference for the binary kernels. */
function naiveBinary(
  f: (p: number, q: number) => number,
  a: Float32Array,
  as: number[],
  b: Float32Array,
  bs: number[],
): [Float64Array, number[]] {
  const os = tf.backend_util.assertAndGetBroadcastShape(as, bs);
  const pad = (s: number[]) => [...Array(os.length - s.length).fill(1), ...s];
  const pa = pad(as), pb = pad(bs);
  const out = new Float64Array(size(os));
  for (let i = 0; i < out.length; i++) {
    let rem = i, ia = 0, ib = 0, ma = 1, mb = 1;
    for (let d = os.length - 1; d >= 0; d--) {
      const k = rem % os[d];
      rem = Math.floor(rem / os[d]);
      ia += (pa[d] === 1 ? 0 : k) * ma;
      ib += (pb[d] === 1 ? 0 : k) * mb;
      ma *= pa[d];
      mb *= pb[d];
    }
    out[i] = f(a[ia], b[ib]);
  }
  return [out, os];
}

Deno.test({
  name: "onednn: broadcasting add/sub/mul/div vs a naive double-precision reference",
  ignore: !hasOneDnn,
  fn: async () => {
    await useOneDnn();
    const rng = new Rng(13);
    const shapes: [number[], number[]][] = [
      [[4, 33, 37, 7], [7]], // bias add
      [[4, 33, 37, 7], [4, 1, 1, 7]],
      [[4, 33, 37, 7], [1]], // scalar
      [[4, 33, 37, 7], [4, 33, 37, 7]],
      [[7], [4, 33, 37, 7]], // broadcast first operand: swapped (add, mul) or JS (sub, div)
      [[4, 33, 37, 7], [4, 33, 1, 7]],
      [[4, 33, 37, 1], [4, 33, 37, 7]],
      [[4, 1, 37, 7], [4, 33, 1, 1]], // both broadcast: JS
      [[3, 1, 5], [1, 4, 5]], // small
    ];
    const ops: [
      string,
      (a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
      (p: number, q: number) => number,
    ][] = [
      ["add", tf.add, (p, q) => p + q],
      ["sub", tf.sub, (p, q) => p - q],
      ["mul", tf.mul, (p, q) => p * q],
      ["div", tf.div, (p, q) => p / q],
    ];
    const before = opPrimitiveCount();
    for (const [as, bs] of shapes) {
      const a = uniform(rng, size(as), -3, 3);
      // Divisors away from zero: |b| in [0.5, 2].
      const b = uniform(rng, size(bs), 0.5, 2).map((v, i) => (i % 3 === 0 ? -v : v));
      for (const [name, f, ref] of ops) {
        const [expected, os] = naiveBinary(ref, a, as, b, bs);
        const y = tf.tidy(() => f(tf.tensor(a, as), tf.tensor(b, bs)));
        assert(y.shape.join() === os.join(), `${name} ${as} ${bs}: shape ${y.shape}`);
        assertAllClose(y.dataSync(), expected, {
          rtol: 1e-6,
          atol: 1e-6,
          msg: `${name} ${as} ${bs}`,
        });
        y.dispose();
      }
    }
    assert(opPrimitiveCount() > before, "oneDNN binary did not run");
  },
});

Deno.test({
  name: "onednn: sum/mean/max reductions vs double-precision loops",
  ignore: !hasOneDnn,
  fn: async () => {
    await useOneDnn();
    const rng = new Rng(14);
    const shape = [6, 37, 41, 5];
    const x = uniform(rng, size(shape), -2, 2);
    const xt = tf.tensor(x, shape);
    const cases: [string, number[], boolean][] = [
      ["sum", [3], false],
      ["sum", [2, 3], true],
      ["sum", [1, 2, 3], false],
      ["sum", [0, 1, 2], false], // bias gradient: leading axes (column sums by matmul)
      ["mean", [1, 0], true],
      ["sum", [0, 2], false], // not contiguous: cpu kernel
      ["mean", [3], true],
      ["mean", [1, 2], false],
      ["max", [2, 3], false],
      ["max", [3], true],
    ];
    for (const [kind, axes, keep] of cases) {
      const y = tf.tidy(() =>
        kind === "sum"
          ? tf.sum(xt, axes, keep)
          : kind === "mean"
          ? tf.mean(xt, axes, keep)
          : tf.max(xt, axes, keep)
      );
      const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
      assert(
        y.shape.join() === (keep ? kept : shape.filter((_, i) => !axes.includes(i))).join(),
        `${kind} ${axes}: shape ${y.shape}`,
      );
      const acc = new Float64Array(size(kept)).fill(kind === "max" ? -Infinity : 0);
      const strides = [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1];
      const oStrides = [kept[1] * kept[2] * kept[3], kept[2] * kept[3], kept[3], 1];
      for (let i = 0; i < x.length; i++) {
        let o = 0;
        for (let d = 0; d < 4; d++) {
          const k = Math.floor(i / strides[d]) % shape[d];
          if (!axes.includes(d)) o += k * oStrides[d];
        }
        acc[o] = kind === "max" ? Math.max(acc[o], x[i]) : acc[o] + x[i];
      }
      const count = axes.reduce((p, d) => p * shape[d], 1);
      const expected = kind === "mean" ? acc.map((v) => v / count) : acc;
      assertAllClose(y.dataSync(), expected, { rtol: 1e-4, atol: 1e-4, msg: `${kind} ${axes}` });
      y.dispose();
    }
    xt.dispose();
  },
});

Deno.test({
  name:
    "onednn: nearest-neighbour resize and its gradient match the cpu backend (integer and odd factors)",
  ignore: !hasOneDnn,
  fn: async () => {
    await useOneDnn();
    const rng = new Rng(15);
    const cases: [number[], [number, number], boolean, boolean][] = [
      [[3, 5, 7, 16], [10, 14], false, false],
      [[2, 5, 7, 3], [10, 14], false, false],
      [[2, 5, 7, 20], [9, 13], false, false],
      [[2, 5, 7, 17], [9, 13], true, false],
      [[2, 5, 7, 18], [11, 15], false, true],
      [[4, 16, 16, 32], [32, 32], false, false],
      [[3, 9, 11, 24], [27, 22], false, true],
      [[3, 9, 11, 24], [27, 22], true, false], // aligned corners: JS
    ];
    const before = opPrimitiveCount();
    for (const [shape, sz, align, half] of cases) {
      const x = uniform(rng, size(shape), -1, 1);
      const dy = uniform(rng, shape[0] * sz[0] * sz[1] * shape[3], -1, 1);
      // Forward (tfjs's own cpu kernel is the reference), and the gradient. Only the integer
      // cases' gradients run on oneDNN; the others run patches/tfjs_bug_fixes.ts's JS kernel on
      // both sides, so here they only check the dispatch: backend/resize_grad_test.ts checks the
      // kernels themselves (adjoint identity, PyTorch).
      const run = () =>
        tf.tidy(() => {
          const xt = tf.tensor4d(x, shape as never);
          const f = (a: tf.Tensor) =>
            tf.image.resizeNearestNeighbor(a as tf.Tensor4D, sz, align, half);
          const g = tf.grad((a: tf.Tensor) =>
            tf.sum(tf.mul(f(a), tf.tensor(dy, [shape[0], ...sz, shape[3]])))
          )(xt);
          return [f(xt).dataSync(), g.dataSync()];
        });
      const expected = await onCpu(run);
      const got = run();
      assertAllClose(got[0], expected[0], { rtol: 0, atol: 0, msg: `${shape} -> ${sz}` });
      assertAllClose(got[1], expected[1], {
        rtol: 1e-6,
        atol: 1e-6,
        msg: `grad ${shape} -> ${sz}`,
      });
    }
    // Integer upscaling of large tensors ran as oneDNN reorders (forward and gradient).
    assert(opPrimitiveCount() >= before + 4, "oneDNN upsampling did not run");
  },
});

Deno.test({
  name:
    "onednn: convolutions at GAN sizes (blocked weights, partial channel blocks) match the cpu backend",
  ignore: !hasOneDnn,
  fn: async () => {
    await useOneDnn();
    const rng = new Rng(16);
    const cases: [number[], number[], number, "same" | "valid", boolean][] = [
      [[2, 12, 12, 32], [3, 3, 32, 16], 1, "same", false],
      [[2, 13, 11, 20], [3, 3, 20, 24], 2, "same", false],
      [[1, 16, 16, 16], [3, 3, 16, 3], 1, "same", false],
      [[2, 16, 16, 3], [3, 3, 3, 32], 2, "same", false],
      [[1, 9, 10, 40], [1, 1, 40, 8], 1, "valid", false],
      [[2, 9, 9, 16], [3, 3, 16, 2], 1, "same", true],
    ];
    const before = primitiveCount();
    for (const [xs, ws, stride, pad, depthwise] of cases) {
      const x = uniform(rng, size(xs), -1, 1), w = uniform(rng, size(ws), -1, 1);
      const run = () =>
        tf.tidy(() => {
          const xt = tf.tensor4d(x, xs as never), wt = tf.tensor4d(w, ws as never);
          const f = (a: tf.Tensor, b: tf.Tensor) =>
            depthwise
              ? tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad)
              : tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad);
          const y = f(xt, wt);
          const dy = tf.tensor(uniform(new Rng(size(y.shape)), size(y.shape), -1, 1), y.shape);
          const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), dy)))([
            xt,
            wt,
          ]);
          return [y.dataSync(), gx.dataSync(), gw.dataSync()];
        });
      const expected = await onCpu(run);
      const got = run();
      const label = `${depthwise ? "depthwise " : ""}${xs} * ${ws} s${stride} ${pad}`;
      for (const [i, part] of ["y", "dx", "dw"].entries()) {
        assertAllClose(got[i], expected[i], { rtol: 1e-4, atol: 1e-4, msg: `${label} ${part}` });
      }
    }
    assert(primitiveCount() >= before + 3 * cases.length, "oneDNN convolutions did not run");
  },
});

Deno.test({
  name: "onednn: a conv reuses its reordered filter only for the same filter tensor",
  ignore: !hasOneDnn,
  fn: async () => {
    await useOneDnn();
    const rng = new Rng(17);
    const xs = [2, 10, 10, 24], ws = [3, 3, 24, 16];
    const x = uniform(rng, size(xs), -1, 1);
    const filters = [0, 1, 2].map(() => uniform(rng, size(ws), -1, 1));
    // Filters 0, 1, 0 (new tensors each time), then the same tensor twice after an assign.
    const run = () =>
      tf.tidy(() => {
        const xt = tf.tensor4d(x, xs as never);
        const outs = [0, 1, 0].map((i) =>
          tf.conv2d(xt, tf.tensor4d(filters[i], ws as never), 1, "same").dataSync()
        );
        const v = tf.variable(tf.tensor4d(filters[1], ws as never));
        outs.push(tf.conv2d(xt, v as tf.Tensor4D, 1, "same").dataSync());
        v.assign(tf.tensor4d(filters[2], ws as never));
        outs.push(tf.conv2d(xt, v as tf.Tensor4D, 1, "same").dataSync());
        outs.push(tf.conv2d(xt, v as tf.Tensor4D, 1, "same").dataSync());
        v.dispose();
        return outs;
      });
    const expected = await onCpu(run);
    const got = run();
    got.forEach((g, i) =>
      assertAllClose(g, expected[i], { rtol: 1e-4, atol: 1e-4, msg: `call ${i}` })
    );
  },
});
