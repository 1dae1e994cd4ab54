/**
 * The onednn backend's buffer pool reuses freed outputs, and never a buffer something else can
 * still see: arrays handed out by dataSync, arrays a user passed to tf.tensor, buffers a live
 * slice views.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "../../tests/assert.ts";
import { initBackend } from "../mod.ts";
import { hasOneDnn } from "./test_gate.ts";
import { backendMemory, poolStats, resetPeakMemory, setPoolLimit } from "./buffer_pool.ts";

const N = 1 << 16;
const shape = [64, 1024];

/** A fresh onednn output of N elements (leaky ReLU of a constant): pooled when freed. */
const output = (v: number) => tf.leakyRelu(tf.fill(shape, v), 0.5);

/** Runs enough same-size kernels that any pooled buffer would be handed out and overwritten. */
function churn() {
  for (let i = 0; i < 8; i++) tf.tidy(() => void output(-100 - i).dataSync());
}

Deno.test({
  name: "onednn buffer pool: recycles freed outputs",
  ignore: !hasOneDnn,
  fn: async () => {
    await initBackend("onednn");
    const before = poolStats().reused;
    for (let i = 0; i < 4; i++) tf.tidy(() => void tf.sum(tf.add(output(i), 1)).dataSync());
    assert(poolStats().reused > before, "no buffer was reused");
    // Recycled buffers hold old values: results must not depend on them.
    const y = tf.tidy(() => tf.add(output(2), 1));
    assertEquals(y.dataSync()[N - 1], 3);
    y.dispose();
  },
});

Deno.test({
  name: "onednn buffer pool: arrays given out by dataSync are never recycled",
  ignore: !hasOneDnn,
  fn: async () => {
    await initBackend("onednn");
    const t = output(7);
    const held = t.dataSync();
    t.dispose();
    churn();
    assertEquals([held[0], held[N - 1]], [7, 7]);
  },
});

Deno.test({
  name: "onednn buffer pool: a user's array given to tf.tensor is never recycled",
  ignore: !hasOneDnn,
  fn: async () => {
    await initBackend("onednn");
    const mine = new Float32Array(N).fill(5);
    const t = tf.tensor(mine, shape);
    tf.tidy(() => tf.leakyRelu(t, 0.5)).dispose();
    t.dispose();
    churn();
    assertEquals([mine[0], mine[N - 1]], [5, 5]);
  },
});

Deno.test({
  name: "onednn buffer pool: a live slice (a view of its input's buffer) keeps the buffer",
  ignore: !hasOneDnn,
  fn: async () => {
    await initBackend("onednn");
    const t = output(3);
    const s = tf.slice(t, [0, 0], [32, 1024]); // a simple slice: a subarray of t's buffer
    t.dispose();
    churn();
    const v = s.dataSync();
    assertEquals([v[0], v[v.length - 1]], [3, 3]);
    s.dispose();
  },
});

Deno.test({
  name: "onednn buffer pool: when full, the longest-parked buffers make room for new ones",
  ignore: !hasOneDnn,
  fn: async () => {
    await initBackend("onednn");
    // Room for two buffers of N floats. Model A's outputs (N) are parked first; model B's
    // (2N, twice the size) come later and must evict them rather than be dropped.
    const previous = setPoolLimit(2 * N * 4);
    try {
      tf.tidy(() => void [output(1), output(2)]); // two of A's buffers parked: the pool is full
      const big = () => tf.tidy(() => tf.leakyRelu(tf.fill([2 * 64, 1024], -1), 0.5));
      big().dispose();
      const before = poolStats();
      big().dispose(); // served from the pool: the first big buffer was kept, A's were evicted
      const after = poolStats();
      assertEquals(after.reused - before.reused, 1);
      assertEquals(after.fresh - before.fresh, 0);
    } finally {
      setPoolLimit(previous);
    }
  },
});

Deno.test({
  name: "onednn backend memory: each buffer counted once, however many tensors share it",
  ignore: !hasOneDnn,
  fn: async () => {
    await initBackend("onednn");
    const start = backendMemory().live;
    const t = tf.tidy(() => output(1)); // N floats (the filled input is freed)
    assertEquals(backendMemory().live - start, 4 * N);
    const r = tf.reshape(t, [N]); // shares t's buffer (tf.memory() counts it again)
    const c = tf.clone(t);
    assertEquals(backendMemory().live - start, 4 * N);
    resetPeakMemory();
    const u = tf.tidy(() => output(2));
    assertEquals(backendMemory().peak - start, 12 * N); // t, and u with its filled input
    tf.dispose([t, r, c, u]);
    assertEquals(backendMemory().live, start);
  },
});
