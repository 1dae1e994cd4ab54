/**
 * The fused Adam kernel (onednn backend) against the op-by-op update on the cpu backend (must be
 * bit-identical, so switching backends does not change a resumed run) and against the textbook
 * update in double precision.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertAllClose, assertEquals } from "../../tests/assert.ts";
import { initBackend } from "../mod.ts";
import { hasOneDnn } from "./test_gate.ts";
import { ADAM_KERNEL } from "./adam_kernel.ts";
import { Adam } from "../../train/adam.ts";
import { Params } from "../../nn/params.ts";
import { Rng } from "../../nn/rng.ts";

const OPTS = { lr: 1e-3, beta1: 0.5, beta2: 0.99, eps: 1e-8 };
const SHAPES: Record<string, number[]> = { w: [3, 3, 37, 41], b: [41], s: [1] };

/** Three Adam steps with fixed gradients on the current backend; params, m and v after each. */
function run(): Float32Array[][] {
  const rng = new Rng(21);
  const p = new Params(new Rng(22));
  for (const [name, shape] of Object.entries(SHAPES)) {
    p.get(name, shape, { kind: "normal", std: 1 });
  }
  const opt = new Adam(OPTS);
  const out: Float32Array[][] = [];
  for (let step = 0; step < 3; step++) {
    const grads: Record<string, tf.Tensor> = {};
    for (const [name, shape] of Object.entries(SHAPES)) {
      const n = shape.reduce((a, b) => a * b, 1);
      // Some exact zeros and tiny values in the gradient, where eps matters.
      const g = rng.normalArray(n).map((v, i) => (i % 7 === 0 ? 0 : i % 11 === 0 ? v * 1e-6 : v));
      grads[p.vars.get(name)!.name] = tf.tensor(g, shape);
    }
    opt.apply(p, grads);
    tf.dispose(Object.values(grads));
    out.push(
      Object.keys(SHAPES).flatMap((name) => [
        p.vars.get(name)!.dataSync().slice() as Float32Array,
        opt.m.get(name)!.dataSync().slice() as Float32Array,
        opt.v.get(name)!.dataSync().slice() as Float32Array,
      ]),
    );
  }
  p.dispose();
  opt.dispose();
  return out;
}

Deno.test({
  name:
    "fused Adam (onednn) is bit-identical to the op-by-op update (cpu) and matches the textbook update",
  ignore: !hasOneDnn,
  fn: async () => {
    await initBackend("cpu");
    assert(!tf.getKernel(ADAM_KERNEL, "cpu"), "the cpu reference path must stay op-by-op");
    const reference = run();
    await initBackend("onednn");
    assert(tf.getKernel(ADAM_KERNEL, "onednn") !== undefined);
    const fused = run();
    for (let s = 0; s < 3; s++) {
      for (let k = 0; k < fused[s].length; k++) {
        assertEquals([...fused[s][k]], [...reference[s][k]], `step ${s} array ${k}`);
      }
    }
    // Textbook Adam in double precision, from the same initial values and gradients.
    const rng = new Rng(21);
    const init = new Rng(22);
    const state = Object.entries(SHAPES).map(([, shape]) => {
      const n = shape.reduce((a, b) => a * b, 1);
      return {
        n,
        p: Float64Array.from(init.normalArray(n)),
        m: new Float64Array(n),
        v: new Float64Array(n),
      };
    });
    for (let t = 1; t <= 3; t++) {
      state.forEach((st, j) => {
        const g = rng.normalArray(st.n).map((
          v,
          i,
        ) => (i % 7 === 0 ? 0 : i % 11 === 0 ? v * 1e-6 : v));
        for (let i = 0; i < st.n; i++) {
          st.m[i] = OPTS.beta1 * st.m[i] + (1 - OPTS.beta1) * g[i];
          st.v[i] = OPTS.beta2 * st.v[i] + (1 - OPTS.beta2) * g[i] * g[i];
          const mh = st.m[i] / (1 - OPTS.beta1 ** t), vh = st.v[i] / (1 - OPTS.beta2 ** t);
          st.p[i] -= OPTS.lr * mh / (Math.sqrt(vh) + OPTS.eps);
        }
        assertAllClose(fused[t - 1][3 * j], st.p, {
          rtol: 1e-5,
          atol: 1e-6,
          msg: `param ${j} t${t}`,
        });
      });
    }
  },
});
