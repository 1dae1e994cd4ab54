/**
 * Every kernel the onednn backend replaces, and the gradient fixes, against PyTorch fixtures
 * (tests/fixtures/backend/make_fixtures.py). Runs on each available JS-array backend; oneDNN
 * cases are skipped with a notice where libdnnl is not installed.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertAllClose } from "../tests/assert.ts";
import { initBackend } from "./mod.ts";
import { hasOneDnn } from "./onednn/test_gate.ts";
import { primitiveCount } from "./onednn/conv_kernels.ts";

const fixture = JSON.parse(
  await Deno.readTextFile(new URL("../tests/fixtures/backend/kernels.json", import.meta.url)),
);

const backends = hasOneDnn ? ["onednn", "cpu"] : ["cpu"];
const TOL = { rtol: 1e-4, atol: 1e-4 };

async function on(backend: string) {
  await initBackend(backend as "cpu" | "onednn");
  assert(tf.getBackend() === backend, `backend ${tf.getBackend()} != ${backend}`);
}

interface ConvCase {
  kind: "conv" | "depthwise";
  stride: number;
  dilation: number;
  pad: "same" | "valid";
  x: number[];
  xShape: number[];
  w: number[];
  wShape: number[];
  y: number[];
  dy: number[];
  dx: number[];
  dw: number[];
}

for (const backend of backends) {
  Deno.test(`${backend}: conv2d / depthwise forward and both gradients match torch`, async () => {
    await on(backend);
    for (const [i, c] of (fixture.conv as ConvCase[]).entries()) {
      const label = `${backend} case ${i} ${c.kind} s${c.stride} d${c.dilation} ${c.pad}`;
      // Depthwise with stride > 1 and dilation > 1 is not allowed by tfjs; the fixtures avoid it.
      const x = tf.tensor4d(c.x, c.xShape as [number, number, number, number]);
      const w = tf.tensor4d(c.w, c.wShape as [number, number, number, number]);
      const f = (a: tf.Tensor, b: tf.Tensor) =>
        c.kind === "conv"
          ? tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad, "NHWC", c.dilation)
          : tf.depthwiseConv2d(
            a as tf.Tensor4D,
            b as tf.Tensor4D,
            c.stride,
            c.pad,
            "NHWC",
            c.dilation,
          );
      assertAllClose(f(x, w).dataSync(), c.y, { ...TOL, msg: `${label} forward` });
      // tfjs's conv2d gradient refuses dilation > 1 (before any kernel runs): forward only there.
      if (c.dilation > 1) continue;
      const dy = tf.tensor(c.dy, f(x, w).shape);
      const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), dy)))([
        x,
        w,
      ]);
      assertAllClose(gx.dataSync(), c.dx, { ...TOL, msg: `${label} dx` });
      assertAllClose(gw.dataSync(), c.dw, { ...TOL, msg: `${label} dw` });
    }
    // On onednn every case built its own primitives (fwd, bwd-data, bwd-weights): not the fallback.
    if (backend === "onednn") assert(primitiveCount() >= 20, `only ${primitiveCount()} primitives`);
  });

  Deno.test(`${backend}: fused conv + bias + (leaky) ReLU equals torch's conv, biased, activated`, async () => {
    await on(backend);
    const before = primitiveCount();
    const acts = [
      { activation: "leakyrelu", alpha: 0.2 },
      { activation: "leakyrelu", alpha: 0.05 },
      { activation: "relu", alpha: 0 },
      { activation: "linear", alpha: 1 },
    ] as const;
    for (const [i, c] of (fixture.conv as ConvCase[]).entries()) {
      if (c.dilation > 1 && c.kind === "depthwise") continue;
      const x = tf.tensor4d(c.x, c.xShape as [number, number, number, number]);
      const w = tf.tensor4d(c.w, c.wShape as [number, number, number, number]);
      const outC = c.kind === "conv" ? c.wShape[3] : c.wShape[2] * c.wShape[3];
      const b = Float32Array.from({ length: outC }, (_, k) => 0.3 * Math.sin(3 * k + i));
      for (const [j, { activation, alpha }] of acts.entries()) {
        const bias = j === 3 && i % 2 ? undefined : tf.tensor1d(b);
        const opts = {
          x,
          filter: w,
          strides: c.stride,
          pad: c.pad,
          dilations: c.dilation,
          bias,
          activation,
          leakyreluAlpha: alpha,
        };
        // Outside a gradient tape, tf.fused runs the FusedConv2D / FusedDepthwiseConv2D kernel.
        const y = c.kind === "conv" ? tf.fused.conv2d(opts) : tf.fused.depthwiseConv2d(opts);
        // Reference: torch's conv output with the bias added and the activation applied here.
        const want = c.y.map((v, k) => {
          const z = v + (bias ? b[k % outC] : 0);
          return z >= 0 ? z : alpha * z;
        });
        assertAllClose(y.dataSync(), want, { ...TOL, msg: `case ${i} ${c.kind} ${activation}` });
      }
    }
    if (backend === "onednn") assert(primitiveCount() > before, "fused convolutions fell back");
  });

  Deno.test(`${backend}: matMul with transposes matches torch`, async () => {
    await on(backend);
    for (const m of fixture.matmul) {
      const a = tf.tensor(m.a, m.aShape), b = tf.tensor(m.b, m.bShape);
      assertAllClose(
        tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, m.ta, m.tb).dataSync(),
        m.out,
        TOL,
      );
      if (m.aShape[0] === 1) {
        const a2 = a.reshape(m.aShape.slice(1)) as tf.Tensor2D;
        const b2 = b.reshape(m.bShape.slice(1)) as tf.Tensor2D;
        assertAllClose(tf.matMul(a2, b2, m.ta, m.tb).dataSync(), m.out, TOL);
      }
    }
  });

  Deno.test(`${backend}: resizeNearestNeighbor gradient is right for batch > 1 (tfjs bug)`, async () => {
    await on(backend);
    const r = fixture.resize;
    const x = tf.tensor4d(r.x, r.xShape);
    const dy = tf.tensor(r.dy, [r.xShape[0], r.xShape[1] * 2, r.xShape[2] * 2, r.xShape[3]]);
    const g = tf.grad((a: tf.Tensor) =>
      tf.sum(
        tf.mul(
          tf.image.resizeNearestNeighbor(a as tf.Tensor4D, [a.shape[1]! * 2, a.shape[2]! * 2]),
          dy,
        ),
      )
    )(x);
    assertAllClose(g.dataSync(), r.dx, TOL);
  });

  Deno.test(`${backend}: second-order gradient (gradient penalty) through resize, conv, leakyRelu, dense`, async () => {
    await on(backend);
    const s = fixture.second;
    const x = tf.tensor4d(s.x, s.xShape);
    const w1 = tf.tensor4d(s.w1, s.w1Shape), w2 = tf.tensor2d(s.w2, s.w2Shape);
    const penalty = (a: tf.Tensor, b: tf.Tensor) => {
      const D = (inp: tf.Tensor) => {
        const u = tf.image.resizeNearestNeighbor(inp as tf.Tensor4D, [6, 6]);
        const h = tf.leakyRelu(tf.conv2d(u, a as tf.Tensor4D, 1, "same"), 0.2);
        return tf.matMul(tf.reshape(h, [2, -1]), b as tf.Tensor2D);
      };
      const gx = tf.grad((inp: tf.Tensor) => tf.sum(D(inp)))(x);
      return tf.mean(tf.sum(tf.square(tf.reshape(gx, [2, -1])), 1));
    };
    const p = penalty(w1, w2);
    assertAllClose([p.dataSync()[0]], [s.penalty], TOL);
    const [g1, g2] = tf.grads(penalty)([w1, w2]);
    assertAllClose(g1.dataSync(), s.gw1, { ...TOL, msg: "d penalty / d conv weights" });
    assertAllClose(g2.dataSync(), s.gw2, { ...TOL, msg: "d penalty / d dense weights" });
  });
}

Deno.test("depthwise conv has second-order gradients (DepthwiseConv2dNativeBackpropInput grad)", async () => {
  await on(backends[0]);
  // f(x) = sum(dw(x)^2 / 2) is quadratic: the Hessian-vector product d/dx <grad f, v> = K^T K v,
  // which we check against the same quantity built from first-order gradients only.
  const x = tf.randomNormal([1, 5, 5, 2], 0, 1, "float32", 1) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 2, 1], 0, 1, "float32", 2) as tf.Tensor4D;
  const v = tf.randomNormal([1, 5, 5, 2], 0, 1, "float32", 3) as tf.Tensor4D;
  const conv = (a: tf.Tensor) => tf.depthwiseConv2d(a as tf.Tensor4D, w, 1, "same");
  const hvp = tf.grad((a: tf.Tensor) =>
    tf.sum(tf.mul(tf.grad((b: tf.Tensor) => tf.sum(tf.square(conv(b))).div(2))(a), v))
  )(x);
  const ktkv = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(conv(a), conv(v))))(x); // = K^T K v
  assertAllClose(hvp.dataSync(), ktkv.dataSync(), { rtol: 1e-4, atol: 1e-4 });
});

Deno.test("batchNorm wrapper has gradients without scale/offset (tf.batchNorm throws there)", async () => {
  await on(backends[0]);
  const { batchNorm } = await import("./patches/tfjs_bug_fixes.ts");
  const x = tf.tensor([1, 2, 3, 4]);
  // y = (x - 2) / sqrt(4 + 0) -> dy/dx = 1/2 each (mean and variance held constant).
  const g = tf.grad((a: tf.Tensor) =>
    tf.sum(batchNorm(a, tf.scalar(2), tf.scalar(4), undefined, undefined, 0))
  )(x);
  assertAllClose(g.dataSync(), [0.5, 0.5, 0.5, 0.5]);
});
