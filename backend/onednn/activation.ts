/**
 * Leaky ReLU done in one pass each way. tfjs computes its gradient as
 * where(greater(x, 0), dy, dy * alpha): three kernels and a bool tensor per activation. Here the
 * gradient is dy * mask(x) with `GanflowLeakyMask` (1 where x > 0, else alpha), a piecewise
 * constant whose own gradient is zero, so second-order gradients (WGAN-GP, R1) still work.
 * Also a direct integer-factor nearest-neighbour upsample (the cpu kernel is generic and slow).
 */
import * as tf from "@tensorflow/tfjs";
import { nearestSource } from "../fixes.ts";

type CpuBackend = tf.KernelBackend & {
  data: { get(id: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
};

export const LEAKY_MASK = "GanflowLeakyMask";

/** A one-input float kernel with an `alpha` attribute, applied element by element. */
function alphaKernel(
  kernelName: string,
  backendName: string,
  f: (v: number, alpha: number) => number,
): tf.KernelConfig {
  return {
    kernelName,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x } = inputs as { x: tf.TensorInfo };
      const b = backend as CpuBackend;
      const alpha = (attrs as unknown as { alpha: number }).alpha;
      const v = b.data.get(x.dataId).values as Float32Array;
      const out = new Float32Array(v.length);
      for (let i = 0; i < v.length; i++) out[i] = f(v[i], alpha);
      return b.makeTensorInfo([...x.shape], "float32", out);
    },
  };
}

function leakyKernels(backendName: string): tf.KernelConfig[] {
  return [
    alphaKernel("LeakyRelu", backendName, (v, alpha) => (v > 0 ? v : v * alpha)),
    alphaKernel(LEAKY_MASK, backendName, (v, alpha) => (v > 0 ? 1 : alpha)),
    {
      kernelName: "ResizeNearestNeighbor",
      backendName,
      kernelFunc: (args) => {
        const { images } = args.inputs as { images: tf.TensorInfo };
        const b = args.backend as CpuBackend;
        const a = args.attrs as unknown as {
          size: [number, number];
          alignCorners: boolean;
          halfPixelCenters: boolean;
        };
        const [n, h, w, c] = images.shape;
        const [oh, ow] = a.size;
        const v = b.data.get(images.dataId).values as Float32Array;
        const out = new Float32Array(n * oh * ow * c);
        const rows = Array.from({ length: oh }, (_, r) => nearestSource(r, h, oh, a));
        const cols = Array.from({ length: ow }, (_, q) => nearestSource(q, w, ow, a));
        let o = 0;
        for (let i = 0; i < n; i++) {
          for (let y = 0; y < oh; y++) {
            const row = (i * h + rows[y]) * w;
            for (let x = 0; x < ow; x++) {
              const src = (row + cols[x]) * c;
              for (let k = 0; k < c; k++) out[o++] = v[src + k];
            }
          }
        }
        return b.makeTensorInfo([n, oh, ow, c], "float32", out);
      },
    },
  ];
}

let gradientRegistered = false;

/**
 * Registers the fast kernels for `backendNames` and the one-pass gradient. The gradient override
 * is global, so the mask kernel is also registered for `maskOnly` backends (JS-array backends
 * the process may switch to, e.g. "cpu" in tests) without replacing their other kernels.
 */
export function registerLeakyRelu(backendNames: string[], maskOnly: string[] = []): void {
  for (const name of maskOnly) {
    const mask = leakyKernels(name).find((k) => k.kernelName === LEAKY_MASK)!;
    if (!tf.getKernel(LEAKY_MASK, name)) tf.registerKernel(mask);
  }
  for (const name of backendNames) {
    for (const k of leakyKernels(name)) {
      if (tf.getKernel(k.kernelName, name)) tf.unregisterKernel(k.kernelName, name);
      tf.registerKernel(k);
    }
  }
  if (gradientRegistered) return;
  gradientRegistered = true;
  tf.registerGradient({
    kernelName: LEAKY_MASK,
    inputsToSave: ["x"],
    gradFunc: (_dy, saved) => ({ x: () => tf.zerosLike(saved[0]) }),
  });
  tf.registerGradient({
    kernelName: "LeakyRelu",
    inputsToSave: ["x"],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      return {
        x: () =>
          tf.mul(
            dy as tf.Tensor,
            tf.engine().runKernel(LEAKY_MASK, { x }, attrs as tf.NamedAttrMap) as tf.Tensor,
          ),
      };
    },
  });
}
