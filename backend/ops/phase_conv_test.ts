import * as tf from "@tensorflow/tfjs";
import { assert, assertAllClose, assertEquals } from "../../tests/assert.ts";
import { initBackend } from "../mod.ts";
import { testBackends } from "../onednn/test_gate.ts";
import { phaseReorderCount } from "../onednn/phase_kernels.ts";
import { Rng } from "../../nn/rng.ts";
import {
  deinterleavePhases,
  interleavePhases,
  PHASE_PAD,
  PHASE_TAPS,
  phaseConvAvailable,
  phaseFilters,
  phaseFiltersGrad,
  phaseFiltersJs,
  phaseUpsampleConv,
} from "./phase_conv.ts";

const rng = new Rng(21);
const rand = (shape: number[]) =>
  tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape);

/** The independent formulation: tfjs's nearest upsampling, 3x3 "same" conv, bias, leaky ReLU. */
function plain(x: tf.Tensor4D, w: tf.Tensor4D, b?: tf.Tensor, slope?: number): tf.Tensor {
  const up = tf.image.resizeNearestNeighbor(x, [2 * x.shape[1], 2 * x.shape[2]]);
  let y: tf.Tensor = tf.conv2d(up, w, 1, "same");
  if (b) y = tf.add(y, b);
  return slope === undefined ? y : tf.leakyRelu(y, slope);
}

/** Largest |a - b| over the largest |b|: one figure for "the same up to float32 rounding". */
function relErr(a: tf.Tensor, b: tf.Tensor): number {
  const av = a.dataSync(), bv = b.dataSync();
  assertEquals(a.shape, b.shape);
  let d = 0, m = 0;
  for (let i = 0; i < av.length; i++) {
    d = Math.max(d, Math.abs(av[i] - bv[i]));
    m = Math.max(m, Math.abs(bv[i]));
  }
  return d / Math.max(m, 1e-30);
}

/** [n, h, w, cin, cout]: batch > 1, cin != cout, h != w, 1x1 and 4x4 inputs, one large case. */
const SHAPES: [number, number, number, number, number][] = [
  [2, 1, 1, 3, 5],
  [3, 4, 4, 5, 2],
  [2, 3, 5, 4, 7],
  [1, 4, 6, 2, 3],
  // Large enough for the onednn backend's oneDNN reorders (>= 2^15 elements each way).
  [2, 16, 13, 6, 24],
];

for (const backend of testBackends) {
  Deno.test(`${backend}: phase upsample conv = upsample + conv + bias + leaky ReLU, values and gradients`, async () => {
    await initBackend(backend);
    assert(phaseConvAvailable(), `phase kernels on ${backend}`);
    for (const [n, h, w, ci, co] of SHAPES) {
      for (const slope of [undefined, 0.2]) {
        tf.tidy(() => {
          const x = rand([n, h, w, ci]) as tf.Tensor4D;
          const f = rand([3, 3, ci, co]) as tf.Tensor4D;
          const b = rand([co]);
          const dy = rand([n, 2 * h, 2 * w, co]);
          const label = `${backend} [${n},${h},${w},${ci}]->${co} slope ${slope}`;
          const phase = (...t: tf.Tensor[]) =>
            phaseUpsampleConv(t[0] as tf.Tensor4D, t[1] as tf.Tensor4D, { bias: t[2], slope });
          const ref = (...t: tf.Tensor[]) =>
            plain(t[0] as tf.Tensor4D, t[1] as tf.Tensor4D, t[2], slope);
          const e = relErr(phase(x, f, b), ref(x, f, b));
          assert(e < 1e-5, `${label}: forward off by ${e}`);
          const gp = tf.grads(phase)([x, f, b], dy), gr = tf.grads(ref)([x, f, b], dy);
          ["x", "w", "b"].forEach((name, i) => {
            const ge = relErr(gp[i], gr[i]);
            assert(ge < 1e-5, `${label}: gradient of ${name} off by ${ge}`);
          });
        });
      }
    }
    // The large case ran the interleaving copies as oneDNN reorders (both directions).
    if (backend === "onednn") assert(phaseReorderCount() >= 2, "oneDNN phase reorders built");
  });

  Deno.test(`${backend}: phase upsample conv's second-order gradient matches the plain ops'`, async () => {
    await initBackend(backend);
    tf.tidy(() => {
      const x = rand([2, 3, 4, 3]) as tf.Tensor4D;
      const f = rand([3, 3, 3, 5]) as tf.Tensor4D;
      const b = rand([5]);
      // A gradient penalty's shape: |d sum(y * y) / dx|² differentiated by the filter.
      const penalty = (conv: (a: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor) => (w: tf.Tensor) => {
        const dx = tf.grad((a: tf.Tensor) =>
          tf.sum(tf.square(conv(a as tf.Tensor4D, w as tf.Tensor4D)))
        )(x);
        return tf.sum(tf.square(dx));
      };
      const gp = tf.grad(penalty((a, w) => phaseUpsampleConv(a, w, { bias: b })))(f);
      const gr = tf.grad(penalty((a, w) => plain(a, w, b)))(f);
      const e = relErr(gp, gr);
      assert(e < 1e-5, `${backend}: second-order gradient off by ${e}`);
    });
  });

  Deno.test(`${backend}: the phase maps are each other's adjoints`, async () => {
    await initBackend(backend);
    tf.tidy(() => {
      // <A u, v> = <u, A' v> for the filter map and the interleaving copy.
      const dot = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(a, b)).dataSync()[0];
      const w = rand([3, 3, 4, 6]) as tf.Tensor4D, v = rand([2, 2, 4, 24]);
      assertAllClose([dot(phaseFilters(w), v)], [dot(w, phaseFiltersGrad(v))], { rtol: 1e-5 });
      const z = rand([3, 6, 5, 8]), dy = rand([3, 10, 8, 2]);
      assertAllClose([dot(interleavePhases(z), dy)], [dot(z, deinterleavePhases(dy))], {
        rtol: 1e-5,
      });
      // Every position of z no output reads gets a zero gradient (the deinterleave's zeros).
      const ones = deinterleavePhases(tf.onesLike(dy));
      assertEquals(tf.sum(ones).dataSync()[0], 3 * 10 * 8 * 2);
    });
  });
}

/** conv2d(upsample2x(x), w, "same") + b in float64 by its definition: the finite-difference model. */
function upConv64(
  x: Float64Array,
  [n, h, w, ci]: number[],
  f: Float64Array,
  co: number,
  b: Float64Array,
): Float64Array {
  const y = new Float64Array(n * 4 * h * w * co);
  for (let m = 0; m < n; m++) {
    for (let r = 0; r < 2 * h; r++) {
      for (let s = 0; s < 2 * w; s++) {
        for (let c = 0; c < co; c++) {
          let acc = b[c];
          for (let ky = 0; ky < 3; ky++) {
            for (let kx = 0; kx < 3; kx++) {
              const ur = r + ky - 1, us = s + kx - 1; // upsampled pixel, zero outside
              if (ur < 0 || ur >= 2 * h || us < 0 || us >= 2 * w) continue;
              const xi = ((m * h + (ur >> 1)) * w + (us >> 1)) * ci;
              for (let k = 0; k < ci; k++) acc += x[xi + k] * f[((ky * 3 + kx) * ci + k) * co + c];
            }
          }
          y[((m * 2 * h + r) * 2 * w + s) * co + c] = acc;
        }
      }
    }
  }
  return y;
}

Deno.test("phase upsample conv's gradients match central differences of the float64 definition", async () => {
  await initBackend("cpu");
  const [n, h, w, ci, co] = [2, 2, 3, 2, 3];
  const r = new Rng(5);
  const x = Float64Array.from(r.normalArray(n * h * w * ci));
  const f = Float64Array.from(r.normalArray(9 * ci * co));
  const b = Float64Array.from(r.normalArray(co));
  const dy = Float64Array.from(r.normalArray(n * 4 * h * w * co));
  const loss = () => upConv64(x, [n, h, w, ci], f, co, b).reduce((s, v, i) => s + v * dy[i], 0);
  const fd = (v: Float64Array) =>
    Array.from(v, (_, i) => {
      const keep = v[i], eps = 1e-4;
      v[i] = keep + eps;
      const up = loss();
      v[i] = keep - eps;
      const down = loss();
      v[i] = keep;
      return (up - down) / (2 * eps);
    });
  const expected = [fd(x), fd(f), fd(b)];
  const got = tf.tidy(() =>
    tf.grads((a: tf.Tensor, k: tf.Tensor, c: tf.Tensor) =>
      phaseUpsampleConv(a as tf.Tensor4D, k as tf.Tensor4D, { bias: c })
    )(
      [
        tf.tensor4d(Float32Array.from(x), [n, h, w, ci]),
        tf.tensor4d(Float32Array.from(f), [3, 3, ci, co]),
        tf.tensor1d(Float32Array.from(b)),
      ],
      tf.tensor4d(Float32Array.from(dy), [n, 2 * h, 2 * w, co]),
    ).map((g) => g.dataSync())
  );
  ["x", "w", "b"].forEach((name, i) =>
    assertAllClose(got[i], expected[i], { atol: 1e-4, rtol: 1e-4, msg: `d${name}` })
  );
});

Deno.test("a wrong tap table breaks the phase conv (the comparison catches it)", async () => {
  await initBackend("cpu");
  tf.tidy(() => {
    const x = rand([2, 3, 4, 3]) as tf.Tensor4D, f = rand([3, 3, 3, 4]) as tf.Tensor4D;
    const viaTaps = (taps: typeof PHASE_TAPS) => {
      const wp = new Float32Array(16 * 3 * 4);
      phaseFiltersJs(f.dataSync() as Float32Array, 3, 4, wp, taps);
      return interleavePhases(tf.conv2d(x, tf.tensor4d(wp, [2, 2, 3, 16]), 1, PHASE_PAD));
    };
    const ref = plain(x, f);
    assert(relErr(viaTaps(PHASE_TAPS), ref) < 1e-5, "the right table matches");
    // Phase 1 summing w1 into its second tap instead of its first.
    const broken = [PHASE_TAPS[0], [[0], [1, 2]]];
    assert(relErr(viaTaps(broken), ref) > 0.1, "a wrong tap sum must not pass");
  });
});
