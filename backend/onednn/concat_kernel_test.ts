/**
 * oneDNN concat against element-by-element index arithmetic written here, along every axis of
 * 4-D tensors big enough to take the oneDNN path, with an empty input among them, and of empty
 * inputs only.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "../../tests/assert.ts";
import { initBackend } from "../mod.ts";
import { hasOneDnn } from "./test_gate.ts";
import { MIN_ELEMENTS } from "./eltwise_primitives.ts";
import { Rng } from "../../nn/rng.ts";

/** out[..., j, ...] = the input holding position j along `axis`, read by index. */
function naiveConcat(parts: { data: Float32Array; shape: number[] }[], axis: number) {
  const shape = [...parts[0].shape];
  shape[axis] = parts.reduce((s, p) => s + p.shape[axis], 0);
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  const idx = new Array(shape.length).fill(0);
  for (let flat = 0; flat < out.length; flat++) {
    let rest = flat;
    for (let k = shape.length - 1; k >= 0; k--) {
      idx[k] = rest % shape[k];
      rest = Math.floor(rest / shape[k]);
    }
    let j = idx[axis], p = 0;
    while (j >= parts[p].shape[axis]) j -= parts[p++].shape[axis];
    const ps = parts[p].shape;
    let src = 0;
    for (let k = 0; k < ps.length; k++) src = src * ps[k] + (k === axis ? j : idx[k]);
    out[flat] = parts[p].data[src];
  }
  return { out, shape };
}

Deno.test({
  name: "oneDNN concat equals index arithmetic along every axis",
  ignore: !hasOneDnn,
  async fn() {
    await initBackend("onednn");
    assert(tf.getBackend() === "onednn");
    const rng = new Rng(3);
    const base = [4, 17, 19, 40];
    for (let axis = 0; axis < 4; axis++) {
      const parts = [12, 0, 3, 17].map((size) => {
        const shape = [...base];
        shape[axis] = size;
        return { data: rng.uniformArray(shape.reduce((a, b) => a * b, 1), -1, 1), shape };
      });
      const want = naiveConcat(parts.filter((p) => p.shape[axis] > 0), axis);
      assert(want.out.length >= MIN_ELEMENTS, "big enough for the oneDNN path");
      const ts = parts.map((p) => tf.tensor(p.data, p.shape));
      const got = tf.concat(ts, axis);
      assertEquals(got.shape, want.shape);
      assertEquals(Array.from(got.dataSync()), Array.from(want.out), `axis ${axis}`);
      tf.dispose([...ts, got]);
    }
    // Only empty inputs: nothing for oneDNN to join (this once threw parsing the axis).
    const empty = tf.concat([tf.zeros([0, 3]), tf.zeros([0, 3])], 1);
    assertEquals(empty.shape, [0, 6]);
    empty.dispose();
  },
});
