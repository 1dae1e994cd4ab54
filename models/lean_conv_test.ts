import * as tf from "@tensorflow/tfjs";
import { assert, assertAllClose, assertEquals, assertThrows } from "../tests/assert.ts";
import { initBackend, oneDnnAvailable } from "../backend/mod.ts";
import { Rng } from "../nn/rng.ts";
import { leanConv } from "./lean_conv.ts";

const rng = new Rng(3);
const rand = (shape: number[]) =>
  tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape);

/** The same layer as separate tfjs ops: the reference. */
function plain(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  b: tf.Tensor | undefined,
  stride: number,
  slope?: number,
) {
  let y: tf.Tensor = tf.conv2d(x, w, stride, "same");
  if (b) y = tf.add(y, b);
  return slope === undefined ? y : tf.leakyRelu(y, slope);
}

for (const backend of ["cpu", "onednn"] as const) {
  Deno.test({
    name:
      `${backend}: leanConv matches (upsample +) conv + bias + leaky ReLU, values and gradients`,
    ignore: backend === "onednn" && !oneDnnAvailable(),
    fn: async () => {
      await initBackend(backend);
      const cases: [number, boolean, number | undefined, boolean][] = [
        [1, true, 0.2, false],
        [2, true, 0.2, false],
        [1, false, undefined, false],
        [2, true, 0, false],
        [1, true, 0.2, true],
        [1, false, undefined, true],
      ];
      for (const [stride, withBias, slope, upsample] of cases) {
        // Upsampling cases start at 4x4, so every case's conv runs at 8x8.
        const x = rand([2, upsample ? 4 : 8, upsample ? 4 : 8, 5]) as tf.Tensor4D;
        const w = rand([3, 3, 5, 6]) as tf.Tensor4D;
        const b = withBias ? rand([6]) : undefined;
        const dy = rand([2, 8 / stride, 8 / stride, 6]);
        const args = b ? [x, w, b] : [x, w];
        const lean = (...t: tf.Tensor[]) =>
          leanConv(t[0] as tf.Tensor4D, t[1] as tf.Tensor4D, {
            stride,
            bias: t[2],
            slope,
            upsample,
          });
        const ref = (...t: tf.Tensor[]) => {
          const a = t[0] as tf.Tensor4D;
          const input = upsample ? tf.image.resizeNearestNeighbor(a, [8, 8]) : a;
          return plain(input, t[1] as tf.Tensor4D, t[2], stride, slope);
        };
        const label = `stride ${stride} bias ${withBias} slope ${slope} upsample ${upsample}`;
        assertAllClose(lean(...args).dataSync(), ref(...args).dataSync(), {
          atol: 1e-5,
          msg: label,
        });
        const gl = tf.grads(lean)(args, dy), gr = tf.grads(ref)(args, dy);
        gl.forEach((g, i) =>
          assertAllClose(g.dataSync(), gr[i].dataSync(), { atol: 1e-4, msg: `${label} grad ${i}` })
        );
        tf.dispose([x, w, dy, ...(b ? [b] : []), ...gl, ...gr]);
      }
    },
  });
}

Deno.test("leanConv keeps one new buffer (its output) from forward to backward; separate ops keep three", async () => {
  await initBackend("cpu");
  const x = rand([2, 8, 8, 4]) as tf.Tensor4D, w = rand([3, 3, 4, 4]) as tf.Tensor4D, b = rand([4]);
  // Distinct buffers alive when forward ends, inside a gradient tape.
  const kept = (f: (...t: tf.Tensor[]) => tf.Tensor) => {
    const before = tf.memory().numDataBuffers;
    let n = 0;
    tf.grads((...t: tf.Tensor[]) => {
      const y = f(...t);
      n = tf.memory().numDataBuffers - before;
      return y;
    })([x, w, b]).forEach((g) => g.dispose());
    return n;
  };
  assertEquals(
    kept((a, c, d) =>
      leanConv(a as tf.Tensor4D, c as tf.Tensor4D, { stride: 1, bias: d, slope: 0.2 })
    ),
    1,
  );
  // The raw conv output (saved by Add for its shapes), the pre-activation, the output.
  assert(kept((a, c, d) => plain(a as tf.Tensor4D, c as tf.Tensor4D, d, 1, 0.2)) >= 3);
  assertThrows(() => leanConv(x, w, { stride: 1, slope: -1 }), "slope");
  tf.dispose([x, w, b]);
});
