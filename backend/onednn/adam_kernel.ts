/**
 * `GanflowAdam`: one Adam update of one variable as a single kernel (train/adam.ts uses it where
 * the backend has it). Inputs param, grad, m, v; outputs the new param, m and v in fresh buffers
 * (tfjs tensors may share buffers, e.g. a variable with the tensor it was made from, so nothing
 * is updated in place). Every intermediate is rounded to float32 exactly where the
 * op-by-op version (mul, add, square, div, sqrt, sub on float32 tensors) rounds, so both give
 * bit-identical results.
 */
import * as tf from "@tensorflow/tfjs";
import type { CpuBackend } from "../js_array_backend.ts";
import { alloc } from "./buffer_pool.ts";

export const ADAM_KERNEL = "GanflowAdam";

export interface AdamAttrs {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Bias corrections 1 - beta1^t and 1 - beta2^t. */
  c1: number;
  c2: number;
}

/** The update on plain arrays (exported for tests). */
export function adamUpdate(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  a: AdamAttrs,
  pOut: Float32Array,
  mOut: Float32Array,
  vOut: Float32Array,
): void {
  const f = Math.fround;
  // The scalars as the float32 scalar tensors the op-by-op version multiplies with.
  const b1 = f(a.beta1), nb1 = f(1 - a.beta1), b2 = f(a.beta2), nb2 = f(1 - a.beta2);
  const lrc = f(a.lr / a.c1), c2 = f(a.c2), eps = f(a.eps);
  for (let i = 0; i < p.length; i++) {
    const gi = g[i];
    const m1 = f(f(m[i] * b1) + f(gi * nb1));
    const v1 = f(f(v[i] * b2) + f(f(gi * gi) * nb2));
    const step = f(f(m1 * lrc) / f(f(Math.sqrt(f(v1 / c2))) + eps));
    mOut[i] = m1;
    vOut[i] = v1;
    pOut[i] = p[i] - step;
  }
}

export function adamKernel(backendName: string): tf.KernelConfig {
  return {
    kernelName: ADAM_KERNEL,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as CpuBackend;
      const ins = inputs as Record<"param" | "grad" | "m" | "v", tf.TensorInfo>;
      for (const t of Object.values(ins)) {
        if (t.dtype !== "float32") throw new Error(`${ADAM_KERNEL}: ${t.dtype} input`);
      }
      const get = (t: tf.TensorInfo) => b.data.get(t.dataId).values as Float32Array;
      const p = get(ins.param), n = p.length;
      const [g, m, v] = [get(ins.grad), get(ins.m), get(ins.v)];
      if (g.length !== n || m.length !== n || v.length !== n) {
        throw new Error(
          `${ADAM_KERNEL}: sizes differ (${n}, ${g.length}, ${m.length}, ${v.length})`,
        );
      }
      const pOut = alloc(n), mOut = alloc(n), vOut = alloc(n);
      adamUpdate(p, g, m, v, attrs as unknown as AdamAttrs, pOut, mOut, vOut);
      const shape = [...ins.param.shape];
      return [
        b.makeTensorInfo(shape, "float32", pOut),
        b.makeTensorInfo(shape, "float32", mOut),
        b.makeTensorInfo(shape, "float32", vOut),
      ];
    },
  };
}
