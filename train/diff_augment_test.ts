import * as tf from "@tensorflow/tfjs";
import { assert, assertAlmostEquals, assertEquals, assertNotEquals } from "../tests/assert.ts";
import { initBackend } from "../backend/mod.ts";
import { Rng } from "../nn/rng.ts";
import { r1Penalty } from "./losses.ts";
import { cutoutMask, diffAugment, translate } from "./diff_augment.ts";

await initBackend("cpu");

/** x moved by (dy, dx) with index arithmetic: out[y][x] = in[y - dy][x - dx], else 0. */
function shiftedByHand(
  data: Float32Array,
  [n, h, w, c]: number[],
  dy: number[],
  dx: number[],
): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let k = 0; k < c; k++) {
          const sy = y - dy[i], sx = x - dx[i];
          const inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
          out.push(inside ? data[((i * h + sy) * w + sx) * c + k] : 0);
        }
      }
    }
  }
  return out;
}

const ramp = (shape: number[]) => {
  const size = shape.reduce((a, b) => a * b);
  return Float32Array.from({ length: size }, (_, i) => i + 1);
};

Deno.test("translate moves each sample by its own shift, zeros coming in", () => {
  const shape = [3, 4, 5, 2];
  const data = ramp(shape);
  const dy = [1, 0, -2], dx = [-1, 2, 0];
  const x = tf.tensor4d(data, shape as [number, number, number, number]);
  const moved = translate(x, dy, dx);
  assertEquals(Array.from(moved.dataSync()), shiftedByHand(data, shape, dy, dx));
  // No shift is the identity.
  assertEquals(Array.from(translate(x, [0, 0, 0], [0, 0, 0]).dataSync()), Array.from(data));
  tf.dispose([x, moved]);
});

Deno.test("translate's gradient is the opposite shift", () => {
  const shape: [number, number, number, number] = [2, 4, 4, 1];
  const weights = ramp(shape);
  const dy = [1, -1], dx = [2, 0];
  const x = tf.zeros(shape) as tf.Tensor4D;
  const wt = tf.tensor4d(weights, shape);
  // d/dx sum(w * T(x)) = T^T w, and T^T is the shift by (-dy, -dx).
  const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(translate(v as tf.Tensor4D, dy, dx), wt)))(x);
  assertEquals(Array.from(g.dataSync()), shiftedByHand(weights, shape, [-1, 1], [-2, 0]));
  tf.dispose([x, wt, g]);
});

Deno.test("cutoutMask zeros the square around each centre, clipped at the borders", () => {
  const m = cutoutMask([0, 2, 4], [0, 3, 1], 4, 4, 2);
  const zeros = (i: number) => {
    const at: string[] = [];
    for (let p = 0; p < 16; p++) if (m[i * 16 + p] === 0) at.push(`${p >> 2},${p & 3}`);
    return at;
  };
  // Side 2 around (cy, cx): rows cy-1..cy, columns cx-1..cx.
  assertEquals(zeros(0), ["0,0"]);
  assertEquals(zeros(1), ["1,2", "1,3", "2,2", "2,3"]);
  assertEquals(zeros(2), ["3,0", "3,1"]);
});

Deno.test("R1 through a translation: closed form for a linear D", () => {
  // D(x) = sum(v * T(x)): its input gradient is T^T v, whose squared norm sums v^2 over the
  // positions T keeps; the penalty's gradient in v is 2 v there, 0 elsewhere.
  const shape = [2, 3, 3, 1] as [number, number, number, number];
  const v = tf.variable(tf.tensor4d(ramp([1, 3, 3, 1]), [1, 3, 3, 1]));
  const real = tf.zeros(shape) as tf.Tensor4D;
  const D = (x: tf.Tensor4D) => tf.sum(tf.mul(translate(x, [1, 1], [0, 0]), v), [1, 2, 3]);
  const { value, grads } = tf.variableGrads(() => r1Penalty(D, real), [v]);
  // Shifted down by 1, rows 1 and 2 of the output are kept: v's values 4..9.
  const kept = [4, 5, 6, 7, 8, 9];
  assertAlmostEquals(value.dataSync()[0], kept.reduce((a, b) => a + b * b, 0), 1e-3);
  const expected = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((k) => (kept.includes(k) ? 2 * k : 0));
  const got = Array.from(grads[v.name].dataSync());
  for (let i = 0; i < 9; i++) assertAlmostEquals(got[i], expected[i], 1e-3);
  tf.dispose([value, real, ...Object.values(grads)]);
  v.dispose();
});

Deno.test("diffAugment: shifts within size/8, squares of half the size, fixed by the seed", () => {
  const ones = tf.ones([64, 8, 8, 1]) as tf.Tensor4D;
  const sums = (t: tf.Tensor) => Array.from(tf.sum(t, [1, 2, 3]).dataSync());
  // A shift by (dy, dx) in {-1, 0, 1}^2 keeps (8 - |dy|)(8 - |dx|) of the ones.
  const moved = sums(diffAugment(ones, ["translation"], new Rng(1)));
  assertEquals([...new Set(moved)].sort((a, b) => a - b), [49, 56, 64]);
  // A 4x4 square centred anywhere in [0, 8]^2 removes between 2x2 (a corner) and 4x4 of them.
  const cut = sums(diffAugment(ones, ["cutout"], new Rng(1))).map((s) => 64 - s);
  assert(cut.every((k) => [4, 6, 8, 9, 12, 16].includes(k)), `cut areas ${cut}`);
  assert(cut.includes(4) && cut.includes(16));
  const both = () =>
    Array.from(diffAugment(ones, ["translation", "cutout"], new Rng(5)).dataSync());
  assertEquals(both(), both());
  assertNotEquals(
    both(),
    Array.from(diffAugment(ones, ["translation", "cutout"], new Rng(6)).dataSync()),
  );
  ones.dispose();
});
