import * as tf from "@tensorflow/tfjs";
import { assertAllClose, assertEquals } from "../../tests/assert.ts";
import { binary, reduceContiguous } from "./elementwise_kernels.ts";
import { Rng } from "../../nn/rng.ts";

/** Reference: plain multi-index broadcasting, written independently of the stride walk. */
function naive(
  f: (x: number, y: number) => number,
  a: Float32Array,
  as: number[],
  b: Float32Array,
  bs: number[],
  os: number[],
) {
  const pad = (s: number[]) => [...Array(os.length - s.length).fill(1), ...s];
  const pa = pad(as), pb = pad(bs);
  const out = new Float32Array(os.reduce((p, q) => p * q, 1));
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
  return out;
}

Deno.test("broadcasting binary ops match a naive multi-index reference on odd shapes", () => {
  const rng = new Rng(5);
  const cases: [number[], number[]][] = [
    [[2, 3, 4, 5], [5]],
    [[2, 3, 4, 5], [2, 3, 4, 1]],
    [[2, 1, 4, 1], [1, 3, 1, 5]],
    [[3, 1], [1, 4]],
    [[7], [1]],
    [[1], [6]],
    [[2, 3, 4], [2, 3, 4]],
    [[4, 1, 3], [2, 1]],
    [[2, 3, 1, 1], [1, 1, 4, 5]],
  ];
  const ops: [number, (x: number, y: number) => number][] = [
    [0, (x, y) => x + y],
    [1, (x, y) => x - y],
    [2, (x, y) => x * y],
    [3, (x, y) => x / y],
    [4, Math.max],
    [6, (x, y) => (x > y ? 1 : 0)],
    [11, (x, y) => (x - y) ** 2],
  ];
  for (const [as, bs] of cases) {
    const os = tf.backend_util.assertAndGetBroadcastShape(as, bs);
    const a = rng.normalArray(as.reduce((p, q) => p * q, 1));
    const b = rng.normalArray(bs.reduce((p, q) => p * q, 1));
    for (const [op, f] of ops) {
      const out = new Float32Array(os.reduce((p, q) => p * q, 1));
      binary(op, a, as, b, bs, out, os);
      assertAllClose(out, naive(f, a, as, b, bs, os), {
        rtol: 1e-6,
        atol: 0,
        msg: `op ${op} ${as} ${bs}`,
      });
    }
  }
});

Deno.test("contiguous reductions: hand-computed sums, means and maxima", () => {
  const x = Float32Array.from({ length: 24 }, (_, i) => i); // shape [2, 3, 4]
  assertEquals([...reduceContiguous("sum", x, [2, 3, 4], [2])!], [6, 22, 38, 54, 70, 86]);
  assertEquals([...reduceContiguous("sum", x, [2, 3, 4], [0, 1])!], [60, 66, 72, 78]);
  assertEquals([...reduceContiguous("mean", x, [2, 3, 4], [1, 2])!], [5.5, 17.5]);
  assertEquals(
    [...reduceContiguous("max", x, [2, 3, 4], [0])!],
    [...Array(12)].map((_, i) => 12 + i),
  );
  assertEquals(reduceContiguous("sum", x, [2, 3, 4], [0, 2]), null); // not contiguous: cpu fallback
});
