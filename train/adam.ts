/**
 * Adam written out (rather than tf.train.adam) so its moments and step count can be saved in a
 * checkpoint and restored exactly: a resumed run is bit-identical to an uninterrupted one.
 */
import * as tf from "@tensorflow/tfjs";
import type { NamedArray } from "../nn/tensor_file.ts";
import type { Params } from "../nn/params.ts";

export interface AdamOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
}

/** Name of the optional fused update kernel a backend may register. */
const FUSED_KERNEL = "GanflowAdam";

export class Adam {
  t = 0;
  readonly m = new Map<string, tf.Tensor>();
  readonly v = new Map<string, tf.Tensor>();

  constructor(readonly opts: AdamOptions) {}

  /** Applies one update to every parameter of `params` that has a gradient in `grads`. */
  apply(params: Params, grads: Record<string, tf.Tensor>): void {
    this.t += 1;
    const { lr, beta1, beta2, eps } = this.opts;
    const c1 = 1 - beta1 ** this.t;
    const c2 = 1 - beta2 ** this.t;
    // One fused kernel per variable where the backend has it (onednn: backend/onednn/adam_kernel.ts),
    // bit-identical to the op-by-op update below.
    const fused = tf.getKernel(FUSED_KERNEL, tf.getBackend()) !== undefined;
    for (const name of params.names()) {
      const v = params.vars.get(name)!;
      const g = grads[v.name];
      if (!g) continue;
      if (fused && v.dtype === "float32" && g.dtype === "float32") {
        const [m0, s0] = [this.m.get(name), this.v.get(name)];
        const [p1, m1, s1] = tf.tidy(() =>
          tf.engine().runKernel(FUSED_KERNEL, {
            param: v,
            grad: g,
            m: m0 ?? tf.zerosLike(v),
            v: s0 ?? tf.zerosLike(v),
          }, { lr, beta1, beta2, eps, c1, c2 }) as tf.Tensor[]
        );
        v.assign(p1);
        p1.dispose();
        m0?.dispose();
        s0?.dispose();
        this.m.set(name, tf.keep(m1));
        this.v.set(name, tf.keep(s1));
        continue;
      }
      const [m, s] = tf.tidy(() => {
        const m0 = this.m.get(name) ?? tf.zerosLike(v);
        const s0 = this.v.get(name) ?? tf.zerosLike(v);
        const m1 = tf.add(tf.mul(m0, beta1), tf.mul(g, 1 - beta1));
        const s1 = tf.add(tf.mul(s0, beta2), tf.mul(tf.square(g), 1 - beta2));
        const step = tf.div(tf.mul(m1, lr / c1), tf.add(tf.sqrt(tf.div(s1, c2)), eps));
        v.assign(tf.sub(v, step));
        return [m1, s1];
      });
      this.m.get(name)?.dispose();
      this.v.get(name)?.dispose();
      this.m.set(name, tf.keep(m));
      this.v.set(name, tf.keep(s));
    }
  }

  toArrays(prefix: string): Record<string, NamedArray> {
    const out: Record<string, NamedArray> = {};
    for (const [k, t] of this.m) {
      out[`${prefix}m/${k}`] = { shape: [...t.shape], data: t.dataSync() as Float32Array };
    }
    for (const [k, t] of this.v) {
      out[`${prefix}v/${k}`] = { shape: [...t.shape], data: t.dataSync() as Float32Array };
    }
    out[`${prefix}t`] = { shape: [1], data: Float32Array.of(this.t) };
    return out;
  }

  loadArrays(arrays: Record<string, NamedArray>, prefix: string): void {
    for (const [key, a] of Object.entries(arrays)) {
      if (!key.startsWith(prefix)) continue;
      const rest = key.slice(prefix.length);
      if (rest === "t") this.t = a.data[0];
      else if (rest.startsWith("m/")) {
        this.m.set(rest.slice(2), tf.keep(tf.tensor(a.data, a.shape)));
      } else if (rest.startsWith("v/")) {
        this.v.set(rest.slice(2), tf.keep(tf.tensor(a.data, a.shape)));
      }
    }
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}

/** Exponential moving average of parameters: ema <- decay * ema + (1 - decay) * param. */
export function emaUpdate(ema: tf.Variable[], params: tf.Variable[], decay: number): void {
  tf.tidy(() => {
    ema.forEach((e, i) => e.assign(tf.add(tf.mul(e, decay), tf.mul(params[i], 1 - decay))));
  });
}
