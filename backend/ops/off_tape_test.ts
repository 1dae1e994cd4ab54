import * as tf from "@tensorflow/tfjs";
import { assert, assertAlmostEquals, assertEquals } from "../../tests/assert.ts";
import { engine, installEagerBackprop, uninstallEagerBackprop } from "../patches/eager_backprop.ts";
import { offTape } from "./off_tape.ts";

await tf.setBackend("cpu");

const tapeLength = () => engine().state.activeTape?.length ?? 0;
const frozen = (x: tf.Tensor) => tf.tanh(tf.mul(tf.sin(x), 3));

Deno.test("offTape: a frozen function of data records nothing and leaves gradients unchanged", () => {
  installEagerBackprop();
  try {
    const data = tf.tensor1d([0.3, -1.2, 2.0]);
    const w = tf.variable(tf.tensor1d([0.5, 1.5, -2.0]));
    const run = (off: boolean) => {
      let recorded = -1;
      const { value, grads } = tf.variableGrads(() => {
        const before = tapeLength();
        const f = off ? offTape(data, () => frozen(data)) : frozen(data);
        recorded = tapeLength() - before;
        return tf.sum(tf.mul(tf.square(w), f)) as tf.Scalar;
      }, [w]);
      const out = { v: value.dataSync()[0], g: Array.from(grads[w.name].dataSync()), recorded };
      tf.dispose([value, grads[w.name]]);
      return out;
    };
    const on = run(false), off = run(true);
    assertEquals(off.recorded, 0);
    assert(on.recorded >= 3, `the recorded path records its ops (${on.recorded})`);
    assertEquals(off.v, on.v);
    assertEquals(off.g, on.g);
    // Hand check: d/dw sum(w^2 f) = 2 w f.
    const f = [0.3, -1.2, 2.0].map((v) => Math.tanh(3 * Math.sin(v)));
    [0.5, 1.5, -2.0].forEach((wi, i) => assertAlmostEquals(off.g[i], 2 * wi * f[i], 1e-5));
    tf.dispose([data, w]);
  } finally {
    uninstallEagerBackprop();
  }
});

Deno.test("offTape: inputs that need a gradient are recorded as usual", () => {
  installEagerBackprop();
  try {
    const x = tf.tensor1d([0.3, -1.2, 2.0]);
    const expect = [0.3, -1.2, 2.0].map((v) => {
      const t = Math.tanh(3 * Math.sin(v));
      return (1 - t * t) * 3 * Math.cos(v);
    });
    // x differentiated with respect to directly.
    const direct = tf.grad((x: tf.Tensor) => tf.sum(offTape(x, () => frozen(x))))(x);
    // x made by a recorded op (here from a variable).
    const w = tf.variable(tf.tensor1d([1, 1, 1]));
    const { grads } = tf.variableGrads(() => {
      const made = tf.mul(w, x);
      return tf.sum(offTape(made, () => frozen(made))) as tf.Scalar;
    }, [w]);
    const viaW = expect.map((d, i) => d * [0.3, -1.2, 2.0][i]);
    Array.from(direct.dataSync()).forEach((g, i) => assertAlmostEquals(g, expect[i], 1e-5));
    Array.from(grads[w.name].dataSync()).forEach((g, i) => assertAlmostEquals(g, viaW[i], 1e-5));
    tf.dispose([x, w, direct, grads[w.name]]);
  } finally {
    uninstallEagerBackprop();
  }
});

Deno.test("offTape: a gradient taken inside leaves the outer tape intact", () => {
  installEagerBackprop();
  try {
    const data = tf.tensor1d([0.7, -0.4]);
    const w = tf.variable(tf.tensor1d([2, 3]));
    const { grads } = tf.variableGrads(() => {
      const pre = tf.mul(w, w); // recorded before offTape runs
      // cos(data), taken as a gradient of sin inside the unrecorded function.
      const slope = offTape(data, () => tf.grad((d: tf.Tensor) => tf.sum(tf.sin(d)))(data));
      return tf.sum(tf.mul(pre, slope)) as tf.Scalar;
    }, [w]);
    // d/dw sum(w^2 cos d) = 2 w cos d.
    const g = Array.from(grads[w.name].dataSync());
    assertAlmostEquals(g[0], 4 * Math.cos(0.7), 1e-5);
    assertAlmostEquals(g[1], 6 * Math.cos(-0.4), 1e-5);
    tf.dispose([data, w, grads[w.name]]);
  } finally {
    uninstallEagerBackprop();
  }
});
