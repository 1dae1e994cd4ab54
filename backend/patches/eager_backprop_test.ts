import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "../../tests/assert.ts";
import { installEagerBackprop, uninstallEagerBackprop } from "./eager_backprop.ts";
import { Rng } from "../../nn/rng.ts";
import { initBackend } from "../mod.ts";
import { hasOneDnn } from "../onednn/test_gate.ts";
import { backendMemory, resetPeakMemory } from "../onednn/buffer_pool.ts";

await tf.setBackend("cpu");

/** Runs `f` with tfjs's own backprop, then with ours, and returns both results. */
function bothWays<T>(f: () => T): [T, T] {
  uninstallEagerBackprop();
  const stock = f();
  installEagerBackprop();
  try {
    return [stock, f()];
  } finally {
    uninstallEagerBackprop();
  }
}

const rng = new Rng(7);
const rand = (shape: number[]) =>
  tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape);

Deno.test("eager backprop: gradients are bit-identical to tfjs's on a net with reuse, splits and a custom gradient", () => {
  const x = rand([2, 6, 6, 3]);
  const w1 = tf.variable(rand([3, 3, 3, 4]));
  const w2 = tf.variable(rand([1, 1, 2, 2]));
  const b = tf.variable(rand([4]));
  // Backward hands its dy straight back: the map must not free a tensor it does not own.
  const passThrough = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.clone(args[0] as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => dy,
  }));
  const loss = () =>
    tf.tidy(() => {
      const h = tf.leakyRelu(tf.add(tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 1, "same"), b));
      const [p, q] = tf.split(h, 2, 3);
      const r = tf.conv2d(passThrough(p) as tf.Tensor4D, w2 as tf.Tensor4D, 1, "same");
      // h used twice (through p and q, and directly): gradients accumulate.
      return tf.sum(tf.mul(tf.sin(tf.add(r, q)), tf.mean(h)));
    }) as tf.Scalar;
  const before = tf.memory().numTensors;
  const [a, e] = bothWays(() => {
    const { value, grads } = tf.variableGrads(loss);
    const out = Object.fromEntries(
      Object.entries(grads).map(([k, g]) => [k, Array.from(g.dataSync())]),
    );
    const v = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    return { v, out };
  });
  assertEquals(e, a);
  assertEquals(tf.memory().numTensors, before, "no tensors left behind");
  tf.dispose([x, w1, w2, b]);
});

Deno.test("eager backprop: second-order gradients (a gradient penalty) match tfjs's", () => {
  const w = tf.variable(rand([4, 1]));
  const xs = rand([5, 4]);
  const penalty = () =>
    tf.tidy(() => {
      const inner = tf.grad((x: tf.Tensor) => tf.sum(tf.tanh(tf.matMul(x as tf.Tensor2D, w))));
      return tf.mean(tf.square(tf.sub(tf.norm(inner(xs), 2, 1), 1)));
    }) as tf.Scalar;
  const [a, e] = bothWays(() => {
    const { value, grads } = tf.variableGrads(penalty);
    const g = Array.from(Object.values(grads)[0].dataSync());
    tf.dispose([value, ...Object.values(grads)]);
    return g;
  });
  assertEquals(e, a);
  tf.dispose([w, xs]);
});

Deno.test({
  name:
    "eager backprop: the peak of a chain of n leaky ReLUs is n saved tensors plus a few gradients, not 2n",
  ignore: !hasOneDnn,
  fn: async () => {
    // On onednn, whose buffer pool counts distinct buffers (tfjs's own count adds a tensor's size
    // again for every handle on it). Each leaky ReLU saves one tensor for backward; tfjs keeps
    // all n and all n gradients to the end (2n buffers of `size` floats), ours frees each as its
    // node is done: at most the n saved, the incoming and outgoing gradient and the sum's
    // gradient's temporaries (2) at once.
    await initBackend("onednn");
    const n = 12, size = 1 << 16, bytes = size * 4;
    const x = tf.variable(rand([size]));
    const peakOf = () => {
      const start = backendMemory().live;
      resetPeakMemory();
      const { value, grads } = tf.variableGrads(() => {
        let h: tf.Tensor = x;
        for (let i = 0; i < n; i++) h = tf.leakyRelu(h, 0.2);
        return tf.sum(h) as tf.Scalar;
      });
      tf.dispose([value, ...Object.values(grads)]);
      return (backendMemory().peak - start) / bytes;
    };
    uninstallEagerBackprop();
    const stockPeak = peakOf();
    installEagerBackprop();
    const eagerPeak = peakOf();
    assert(stockPeak >= 2 * n, `tfjs's own peak ${stockPeak} tensors (expected >= ${2 * n})`);
    assert(eagerPeak <= n + 4, `eager peak ${eagerPeak} tensors (expected <= ${n + 4})`);
    x.dispose();
  },
});

Deno.test({
  name:
    "eager backprop: what nodes off the path to the wanted gradients saved is freed before backward",
  ignore: !hasOneDnn,
  fn: async () => {
    await initBackend("onednn");
    // A frozen feature chain on data (n leaky ReLUs, each saving its output) feeds w * h; only
    // w's gradient is wanted, so the chain's saved outputs are dead weight during backward.
    const n = 8, size = 1 << 16, bytes = size * 4;
    const x = rand([size]);
    const w = tf.variable(tf.scalar(0.5));
    let liveInBackward = 0;
    const probe = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
      value: tf.clone(args[0] as tf.Tensor),
      gradFunc: (dy: tf.Tensor) => {
        liveInBackward = backendMemory().live;
        return tf.clone(dy);
      },
    }));
    const liveDuringBackward = () => {
      const start = backendMemory().live;
      const { value, grads } = tf.variableGrads(() => {
        let h: tf.Tensor = x;
        for (let i = 0; i < n; i++) h = tf.leakyRelu(h, 0.2);
        return tf.sum(probe(tf.mul(w, h))) as tf.Scalar;
      });
      tf.dispose([value, ...Object.values(grads)]);
      return (liveInBackward - start) / bytes;
    };
    uninstallEagerBackprop();
    const stock = liveDuringBackward();
    installEagerBackprop();
    const eager = liveDuringBackward();
    assert(
      eager <= stock - (n - 1),
      `buffers alive in backward: eager ${eager}, tfjs ${stock} (expected ${n - 1} fewer)`,
    );
    tf.dispose([x, w]);
  },
});
