/**
 * Leaky ReLU done in one pass each way. tfjs computes its gradient as
 * where(greater(x, 0), dy, dy * alpha): three kernels and a bool tensor per activation. Here the
 * gradient is one kernel, `GanflowLeakyReluGrad`(dy, x) = dy where x > 0, else alpha * dy. It is
 * linear in dy (its gradient with respect to dy is itself, with respect to x zero: the mask is
 * piecewise constant), so second-order gradients (WGAN-GP, R1) still work. On the onednn
 * backend large tensors go through oneDNN's eltwise ReLU (alpha = slope), forward and backward.
 */
import * as tf from "@tensorflow/tfjs";
import type { CpuBackend } from "../js_array_backend.ts";
import { LEAKY_GRAD } from "../ops/leaky_relu_grad.ts";
import type { OneDnn } from "./ffi.ts";
import { alloc } from "./buffer_pool.ts";
import { ALG, eltwiseBackward, eltwiseForward, MIN_ELEMENTS } from "./eltwise_primitives.ts";

function leakyJs(x: Float32Array, alpha: number, out: Float32Array) {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    out[i] = v > 0 ? v : v * alpha;
  }
}

function leakyGradJs(dy: Float32Array, x: Float32Array, alpha: number, out: Float32Array) {
  for (let i = 0; i < x.length; i++) out[i] = x[i] > 0 ? dy[i] : dy[i] * alpha;
}

function values(b: CpuBackend, t: tf.TensorInfo): Float32Array {
  return b.data.get(t.dataId).values as Float32Array;
}

/** The gradient kernel alone (for JS-array backends that keep their own LeakyRelu). */
function leakyGradKernel(backendName: string, dnn: OneDnn | null): tf.KernelConfig {
  return {
    kernelName: LEAKY_GRAD,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
      const b = backend as CpuBackend;
      const alpha = (attrs as unknown as { alpha: number }).alpha;
      const xv = values(b, x), dv = values(b, dy);
      const out = alloc(xv.length);
      if (
        !(dnn && xv.length >= MIN_ELEMENTS &&
          eltwiseBackward(dnn, ALG.relu, alpha, 0, dv, xv, out))
      ) leakyGradJs(dv, xv, alpha, out);
      return b.makeTensorInfo([...x.shape], "float32", out);
    },
  };
}

function leakyKernels(backendName: string, dnn: OneDnn | null): tf.KernelConfig[] {
  return [
    {
      kernelName: "LeakyRelu",
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x } = inputs as { x: tf.TensorInfo };
        const b = backend as CpuBackend;
        if (x.dtype !== "float32") throw new Error(`LeakyRelu on ${x.dtype}`);
        const alpha = (attrs as unknown as { alpha: number }).alpha;
        const v = values(b, x);
        const out = alloc(v.length);
        if (
          !(dnn && v.length >= MIN_ELEMENTS && eltwiseForward(dnn, ALG.relu, alpha, 0, v, out))
        ) leakyJs(v, alpha, out);
        return b.makeTensorInfo([...x.shape], "float32", out);
      },
    },
    leakyGradKernel(backendName, dnn),
  ];
}

let gradientRegistered = false;

/**
 * Registers the fast kernels for `backendNames` (`dnn`: oneDNN for their large tensors) and the
 * one-pass gradient. The gradient override is global, so the gradient kernel is also registered
 * for `gradOnly` backends (JS-array backends the process may switch to, e.g. "cpu" in tests)
 * without replacing their other kernels.
 */
export function registerLeakyRelu(
  backendNames: string[],
  gradOnly: string[] = [],
  dnn: OneDnn | null = null,
): void {
  for (const name of gradOnly) {
    if (!tf.getKernel(LEAKY_GRAD, name)) tf.registerKernel(leakyGradKernel(name, null));
  }
  for (const name of backendNames) {
    for (const k of leakyKernels(name, dnn)) {
      if (tf.getKernel(k.kernelName, name)) tf.unregisterKernel(k.kernelName, name);
      tf.registerKernel(k);
    }
  }
  if (gradientRegistered) return;
  gradientRegistered = true;
  tf.registerGradient({
    kernelName: LEAKY_GRAD,
    inputsToSave: ["x"],
    gradFunc: (g, saved, attrs) => {
      const [x] = saved;
      return {
        dy: () =>
          tf.engine().runKernel(
            LEAKY_GRAD,
            { dy: g as tf.Tensor, x },
            attrs as tf.NamedAttrMap,
          ) as tf.Tensor,
        x: () => tf.zerosLike(x),
      };
    },
  });
  // Saves the output, not the input: with a slope >= 0, y > 0 exactly where x > 0, so the
  // gradient reads the same from either, and the output is usually kept anyway (the next op's
  // input, e.g. pixel norm's), while the input would be one more activation held to backward.
  tf.registerGradient({
    kernelName: "LeakyRelu",
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [y] = saved;
      const alpha = (attrs as unknown as { alpha: number }).alpha;
      if (alpha < 0) {
        throw new Error(`leaky ReLU gradient: slope ${alpha} < 0 is not supported`);
      }
      return {
        x: () =>
          tf.engine().runKernel(
            LEAKY_GRAD,
            { dy: dy as tf.Tensor, x: y },
            attrs as tf.NamedAttrMap,
          ) as tf.Tensor,
      };
    },
  });
}
