/**
 * oneDNN max/average pooling against a naive double-precision loop written here (TF semantics:
 * padding ignored by both, averages over the pixels inside the image), at the geometries the
 * project uses (2x2/2 box downsampling, Inception's 3x3/1 "same" and 3x3/2 "valid") and odd ones.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertAllClose } from "../../tests/assert.ts";
import { initBackend } from "../mod.ts";
import { hasOneDnn } from "./test_gate.ts";
import { Rng } from "../../nn/rng.ts";

function naivePool(
  x: Float32Array,
  [n, h, w, c]: number[],
  k: number,
  s: number,
  pad: "same" | "valid",
  max: boolean,
): { out: Float32Array; shape: number[] } {
  const oh = pad === "same" ? Math.ceil(h / s) : Math.floor((h - k) / s) + 1;
  const ow = pad === "same" ? Math.ceil(w / s) : Math.floor((w - k) / s) + 1;
  const top = pad === "same" ? Math.floor(Math.max((oh - 1) * s + k - h, 0) / 2) : 0;
  const left = pad === "same" ? Math.floor(Math.max((ow - 1) * s + k - w, 0) / 2) : 0;
  const out = new Float32Array(n * oh * ow * c);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < oh; y++) {
      for (let xo = 0; xo < ow; xo++) {
        for (let ch = 0; ch < c; ch++) {
          let acc = max ? -Infinity : 0, count = 0;
          for (let dy = 0; dy < k; dy++) {
            for (let dx = 0; dx < k; dx++) {
              const iy = y * s - top + dy, ix = xo * s - left + dx;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              const v = x[((b * h + iy) * w + ix) * c + ch];
              acc = max ? Math.max(acc, v) : acc + v;
              count++;
            }
          }
          out[((b * oh + y) * ow + xo) * c + ch] = max ? acc : acc / count;
        }
      }
    }
  }
  return { out, shape: [n, oh, ow, c] };
}

Deno.test({
  name: "oneDNN max and average pooling equal a naive loop (padding ignored, TF semantics)",
  ignore: !hasOneDnn,
  async fn() {
    await initBackend("onednn");
    assert(tf.getBackend() === "onednn");
    const rng = new Rng(11);
    const cases: [number[], number, number, "same" | "valid"][] = [
      [[2, 8, 8, 5], 2, 2, "valid"], // box downsampling
      [[2, 9, 7, 6], 3, 1, "same"], // Inception's branch pools (odd sizes: uneven borders)
      [[2, 15, 13, 4], 3, 2, "valid"], // Inception's reductions
      [[1, 10, 11, 3], 3, 2, "same"], // asymmetric padding
      [[3, 5, 5, 2], 2, 1, "same"],
    ];
    for (const [shape, k, s, pad] of cases) {
      const data = rng.uniformArray(shape.reduce((a, b) => a * b, 1), -3, 3);
      const x = tf.tensor4d(data, shape as [number, number, number, number]);
      for (const max of [true, false]) {
        const got = max ? tf.maxPool(x, k, s, pad) : tf.avgPool(x, k, s, pad);
        const want = naivePool(data, shape, k, s, pad, max);
        const what = `${max ? "max" : "avg"} ${k}/${s} ${pad} on [${shape}]`;
        assertAllClose(got.shape, want.shape, { msg: what });
        assertAllClose(got.dataSync(), want.out, { rtol: 1e-6, atol: 1e-6, msg: what });
        got.dispose();
      }
      x.dispose();
    }
  },
});
