/**
 * bf16 convolutions (forward, input gradient) and matmuls of the onednn backend (bf16.ts,
 * conv_kernels.ts) against two independent references computed by tfjs's cpu backend (plain JS,
 * float32):
 * - the same op on inputs rounded to bf16 here, bit by bit (round to nearest, ties to even):
 *   bf16 products are exact in float32, so the two differ only by float32 accumulation order,
 *   bounded per element by a small multiple of the float32 epsilon times the sum of |terms|;
 * - the same op on the unrounded inputs: within bf16's precision (1e-2 of the largest value).
 * Weight gradients stay float32: they match the float32 reference as closely as without bf16.
 * Where the CPU or oneDNN has no bf16 kernels, the tests are ignored and say why.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertAllClose, assertEquals } from "../../tests/assert.ts";
import { bf16Unavailable, usePrecision } from "../precision.ts";
import { cpuFlags } from "../cpu_features.ts";
import { Rng } from "../../nn/rng.ts";
import { hasOneDnn, onCpu, useOneDnn } from "./test_gate.ts";
import { loadOneDnn } from "./ffi.ts";
import { bf16Conversions, toBf16 } from "./bf16.ts";
import { primitiveImpls } from "./conv_kernels.ts";

const why = hasOneDnn
  ? bf16Unavailable({
    backend: "onednn",
    cpuFlags: cpuFlags(),
    oneDnnIsa: loadOneDnn()!.lib.dnnl_get_effective_cpu_isa(),
  })
  : "oneDNN does not load";
if (why) console.log(`bf16 kernel tests ignored: ${why}`);
const ignore = why !== null;

/** Float32 values rounded to bf16 (round to nearest, ties to even), as float32. */
function roundToBf16(x: Float32Array): Float32Array {
  const out = new Float32Array(x);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < u.length; i++) {
    const b = u[i];
    // Add just under half an ulp of bf16, plus one where the kept part is odd (ties to even).
    u[i] = ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) << 16;
  }
  return out;
}

const bits = (v: number) => new Uint32Array(Float32Array.of(v).buffer)[0];
const f32 = (u: number) => new Float32Array(Uint32Array.of(u).buffer)[0];

Deno.test("roundToBf16 (the tests' reference) rounds to nearest, ties to even, by hand", () => {
  const ulp = 2 ** -7; // bf16 keeps 7 fraction bits: the spacing just above 1
  const cases: [number, number][] = [
    [1, 1],
    [1 + ulp / 2, 1], // a tie: 1 (even) rather than 1 + ulp (odd)
    [1 + ulp + ulp / 2, 1 + 2 * ulp], // a tie: 1 + 2 ulp (even) rather than 1 + ulp
    [1 + ulp / 2 + 2 ** -20, 1 + ulp], // just above the tie
    [1 + ulp / 2 - 2 ** -20, 1], // just below
    [-(1 + ulp / 2 + 2 ** -20), -(1 + ulp)],
    [3.140625, 3.140625], // exactly representable (0x4049 << 16)
    [f32(0x3f80ffff), f32(0x3f810000)], // rounding carries into the next bf16
  ];
  const got = roundToBf16(Float32Array.from(cases.map(([x]) => x)));
  cases.forEach(([x, want], i) =>
    assertEquals(bits(got[i]), bits(want), `${x}: ${got[i]} vs ${want}`)
  );
});

/** Runs `f` on onednn with bf16 convs and matmuls on. */
function inBf16<T>(f: () => T): T {
  const scope = usePrecision("bf16");
  assertEquals(scope.precision, "bf16");
  try {
    return f();
  } finally {
    scope.end();
  }
}

/**
 * |got - ref| <= 8 float32 epsilons times the sum of |terms| of each element (`absSum`: the same
 * op on the inputs' absolute values), plus a hair for exact zeros.
 */
function assertAccumulationClose(
  got: Float32Array,
  ref: Float32Array,
  absSum: Float32Array,
  msg: string,
) {
  const eps = 2 ** -23;
  for (let i = 0; i < got.length; i++) {
    const bound = 8 * eps * absSum[i] + 1e-30;
    if (!(Math.abs(got[i] - ref[i]) <= bound)) {
      throw new Error(`${msg}: element ${i}: ${got[i]} vs ${ref[i]} (bound ${bound})`);
    }
  }
}

/** max |got - ref| <= 1e-2 max |ref|: bf16's precision (8 significant bits). */
function assertBf16Close(got: Float32Array, ref: Float32Array, msg: string) {
  let worst = 0, top = 0;
  for (let i = 0; i < got.length; i++) {
    worst = Math.max(worst, Math.abs(got[i] - ref[i]));
    top = Math.max(top, Math.abs(ref[i]));
  }
  assert(worst <= 1e-2 * top, `${msg}: off by ${worst} of ${top}`);
}

const abs = (a: Float32Array) => a.map(Math.abs);

Deno.test({
  name: "bf16: the float32 -> bf16 conversion rounds as the hand-written reference, bit for bit",
  ignore,
  fn: () => {
    const d = loadOneDnn()!;
    const rng = new Rng(31);
    // Normal numbers of many magnitudes (subnormals become zero on these CPUs), and ties.
    const x = rng.normalArray(100_003).map((v, i) => v * 2 ** ((i % 40) - 20));
    x.set([1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 2 ** -8), 0, -0], 0);
    const out = new Uint16Array(x.length);
    toBf16(d, x, out);
    const want = new Uint32Array(roundToBf16(x).buffer);
    for (let i = 0; i < x.length; i++) {
      assertEquals(out[i], want[i] >>> 16, `element ${i} (${x[i]})`);
    }
  },
});

/** Conv cases: input shape, filter shape, stride, padding, depthwise. */
const CONVS: [number[], number[], number, "same" | "valid", boolean][] = [
  [[2, 12, 12, 32], [3, 3, 32, 16], 1, "same", false],
  [[2, 13, 11, 20], [3, 3, 20, 24], 2, "same", false],
  [[2, 16, 16, 3], [3, 3, 3, 32], 2, "same", false],
  [[1, 16, 16, 16], [3, 3, 16, 3], 1, "same", false],
  [[1, 9, 10, 40], [1, 1, 40, 8], 1, "valid", false],
  [[2, 9, 9, 16], [3, 3, 16, 2], 1, "same", true],
];

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

Deno.test({
  name: "bf16: conv forward and input gradient vs float32 on bf16-rounded inputs; weight " +
    "gradient in float32",
  ignore,
  fn: async () => {
    await useOneDnn();
    const rng = new Rng(32);
    for (const [xs, ws, stride, pad, depthwise] of CONVS) {
      const conv = (a: tf.Tensor, b: tf.Tensor) =>
        depthwise
          ? tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad)
          : tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad);
      const x = rng.normalArray(size(xs)), w = rng.normalArray(size(ws));
      const ys = tf.tidy(() => conv(tf.zeros(xs), tf.zeros(ws)).shape);
      const dy = rng.normalArray(size(ys));
      // y, dx, dw through tfjs's gradient (Conv2DBackpropInput / Filter and depthwise ones).
      const run = (xv: Float32Array, wv: Float32Array, dyv: Float32Array) => () =>
        tf.tidy(() => {
          const dyt = tf.tensor(dyv, ys);
          const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a, b), dyt));
          const [gx, gw] = tf.grads(f)([tf.tensor(xv, xs), tf.tensor(wv, ws)]);
          const y = conv(tf.tensor(xv, xs), tf.tensor(wv, ws));
          return [y, gx, gw].map((t) => t.dataSync() as Float32Array);
        });
      const [xr, wr, dyr] = [x, w, dy].map(roundToBf16);
      const rounded = await onCpu(run(xr, wr, dyr));
      const absSum = await onCpu(run(abs(xr), abs(wr), abs(dyr)));
      const plain = await onCpu(run(x, w, dy));
      const before = bf16KeyCount(), conversions = bf16Conversions();
      const got = inBf16(run(x, w, dy));
      assert(bf16KeyCount() >= before + 2, "bf16 conv plans not built");
      // x for each of the two forwards, dy for the input gradient.
      assertEquals(bf16Conversions() - conversions, 3);
      const label = `${depthwise ? "depthwise " : ""}${xs} * ${ws} s${stride} ${pad}`;
      ["y", "dx"].forEach((part, i) => {
        assertAccumulationClose(got[i], rounded[i], absSum[i], `${label} ${part}`);
        assertBf16Close(got[i], plain[i], `${label} ${part} vs fp32`);
      });
      assertAllClose(got[2], plain[2], { rtol: 1e-4, atol: 1e-4, msg: `${label} dw` });
    }
    const impls = primitiveImpls(loadOneDnn()!).filter((l) => /^[a-z-]+,true,/.test(l));
    assert(impls.length >= 2 * CONVS.length, impls.join("\n"));
    for (const line of impls) {
      // Every bf16 conv runs a kernel built for bf16 instructions (not a reference loop).
      assert(/bf16/.test(line.split(": ")[1]), `not a bf16 kernel: ${line}`);
    }
  },
});

function bf16KeyCount(): number {
  return primitiveImpls(loadOneDnn()!).filter((l) => /^([a-z-]+|mm),true,/.test(l)).length;
}

Deno.test({
  name: "bf16: fused conv + bias + leaky ReLU vs float32 on bf16-rounded inputs",
  ignore,
  fn: async () => {
    await useOneDnn();
    const rng = new Rng(33);
    const xs = [2, 10, 10, 24], ws = [3, 3, 24, 16];
    const x = rng.normalArray(size(xs)), w = rng.normalArray(size(ws));
    const b = rng.normalArray(16);
    const run = (xv: Float32Array, wv: Float32Array, bv: Float32Array, act: boolean) => () =>
      tf.tidy(() =>
        tf.fused.conv2d({
          x: tf.tensor4d(xv, xs as never),
          filter: tf.tensor4d(wv, ws as never),
          strides: 1,
          pad: "same",
          bias: tf.tensor1d(bv),
          activation: act ? "leakyrelu" : "linear",
          leakyreluAlpha: 0.2,
        }).dataSync() as Float32Array
      );
    const [xr, wr] = [x, w].map(roundToBf16);
    const rounded = await onCpu(run(xr, wr, b, true));
    const absSum = await onCpu(run(abs(xr), abs(wr), abs(b), false));
    const plain = await onCpu(run(x, w, b, true));
    const got = inBf16(run(x, w, b, true));
    assertAccumulationClose(got, rounded, absSum, "fused");
    assertBf16Close(got, plain, "fused vs fp32");
  },
});

Deno.test({
  name: "bf16: matmul (2-D and batched, every transpose) vs float32 on bf16-rounded inputs",
  ignore,
  fn: async () => {
    await useOneDnn();
    const rng = new Rng(34);
    const before = bf16KeyCount();
    for (const [batch, m, k, n] of [[0, 17, 129, 33], [3, 5, 64, 7]]) {
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
        const as = batch ? [batch, ta ? k : m, ta ? m : k] : [ta ? k : m, ta ? m : k];
        const bs = batch ? [batch, tb ? n : k, tb ? k : n] : [tb ? n : k, tb ? k : n];
        const a = rng.normalArray(size(as)), b = rng.normalArray(size(bs));
        const run = (av: Float32Array, bv: Float32Array) => () =>
          tf.tidy(() =>
            tf.matMul(tf.tensor(av, as), tf.tensor(bv, bs), ta, tb).dataSync() as Float32Array
          );
        const [ar, br] = [a, b].map(roundToBf16);
        const rounded = await onCpu(run(ar, br));
        const absSum = await onCpu(run(abs(ar), abs(br)));
        const plain = await onCpu(run(a, b));
        const got = inBf16(run(a, b));
        const label = `${as} x ${bs} (${ta}, ${tb})`;
        assertAccumulationClose(got, rounded, absSum, label);
        assertBf16Close(got, plain, `${label} vs fp32`);
      }
    }
    assert(bf16KeyCount() >= before + 8, "bf16 matmuls not built");
  },
});
