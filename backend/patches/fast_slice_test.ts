/**
 * The fast Slice / SplitV kernels against a naive element-by-element copy written here (every
 * output element's source index computed from its coordinates), on both JS-array backends.
 */
import * as tf from "@tensorflow/tfjs";
import { assertEquals } from "../../tests/assert.ts";
import { initBackend } from "../mod.ts";
import { hasOneDnn } from "../onednn/test_gate.ts";
import { Rng } from "../../nn/rng.ts";

function naiveSlice(x: ArrayLike<number>, shape: number[], begin: number[], size: number[]) {
  const out: number[] = [];
  const n = size.reduce((a, b) => a * b, 1);
  for (let e = 0; e < n; e++) {
    let rest = e, src = 0, stride = 1;
    const coord = new Array<number>(size.length);
    for (let i = size.length - 1; i >= 0; i--) {
      coord[i] = rest % size[i];
      rest = Math.floor(rest / size[i]);
    }
    for (let i = size.length - 1; i >= 0; i--) {
      src += (begin[i] + coord[i]) * stride;
      stride *= shape[i];
    }
    out.push(x[src]);
  }
  return out;
}

const backends = hasOneDnn ? ["cpu", "onednn"] as const : ["cpu"] as const;

for (const backend of backends) {
  Deno.test(`fast slice and split on ${backend} equal an element-by-element copy`, async () => {
    await initBackend(backend);
    const rng = new Rng(4);
    const shape = [3, 5, 4, 6];
    const data = rng.normalArray(360);
    const x = tf.tensor4d(data, shape as [number, number, number, number]);
    const cases: [number[], number[]][] = [
      [[0, 0, 0, 0], [3, 5, 4, 6]], // everything
      [[1, 0, 0, 0], [2, 5, 4, 6]], // leading axis only: one run
      [[0, 2, 1, 3], [3, 2, 3, 2]], // every axis cut
      [[2, 4, 3, 5], [1, 1, 1, 1]], // one element
      [[0, 1, 0, 0], [3, 3, 4, 6]], // trailing axes whole: runs of 4 * 6
    ];
    for (const [begin, size] of cases) {
      const got = tf.slice(x, begin, size);
      assertEquals(got.shape, size);
      assertEquals([...got.dataSync()], naiveSlice(data, shape, begin, size));
      got.dispose();
    }
    // -1 sizes mean "to the end".
    const tail = tf.slice(x, [1, 1, 1, 1], [-1, -1, -1, -1]);
    assertEquals([...tail.dataSync()], naiveSlice(data, shape, [1, 1, 1, 1], [2, 4, 3, 5]));
    // Splits along channels (a GLU's halves), a middle axis, and into unequal parts.
    for (const [sizes, axis] of [[[3, 3], 3], [[1, 4], 1], [[2, -1], 2]] as [number[], number][]) {
      const parts = tf.split(x, sizes, axis);
      let start = 0;
      for (const p of parts) {
        const begin = [0, 0, 0, 0], size = [...shape];
        begin[axis] = start;
        size[axis] = p.shape[axis];
        assertEquals([...p.dataSync()], naiveSlice(data, shape, begin, size));
        start += p.shape[axis];
      }
      assertEquals(start, shape[axis]);
      tf.dispose(parts);
    }
    // int32 tensors take the same path; the gradient of a split is still the concat of ones.
    const xi = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], "int32");
    assertEquals([...tf.slice(xi, [0, 1], [2, 2]).dataSync()], [2, 3, 5, 6]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.split(t, 2, 3)[1]))(x);
    const want = naiveSlice(data, shape, [0, 0, 0, 0], shape).map((_, e) => (e % 6 >= 3 ? 1 : 0));
    assertEquals([...g.dataSync()], want);
    tf.dispose([x, xi, g, tail]);
    await initBackend("cpu");
  });
}
