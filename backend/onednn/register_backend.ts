/**
 * The "onednn" tfjs backend: the cpu backend (tensors in plain Float32Arrays that FFI can hand
 * to C without copying) with its hot kernels replaced: convolutions and matmul by oneDNN
 * (conv_kernels.ts), element-wise ops and reductions by oneDNN for large tensors and JS loops
 * for small ones (elementwise_kernels.ts over eltwise_primitives.ts), pooling and concat
 * (pooling_kernels.ts, concat_kernel.ts), a fused Adam update (adam_kernel.ts); output buffers
 * are recycled (buffer_pool.ts). Leaky ReLU and resize are registered by leaky_relu_kernels.ts
 * and resize_kernels.ts.
 */
import * as tf from "@tensorflow/tfjs";
import { loadOneDnn, oneDnnLoadError } from "./ffi.ts";
import { makeKernels } from "./conv_kernels.ts";
import { makeElementwiseKernels } from "./elementwise_kernels.ts";
import { adamKernel } from "./adam_kernel.ts";
import { makePoolingKernels } from "./pooling_kernels.ts";
import { concatKernel } from "./concat_kernel.ts";
import { poolBuffers } from "./buffer_pool.ts";

let registered = false;

/** Registers the backend; returns the oneDNN version, or throws saying why it is unavailable. */
export function registerOneDnnBackend(): string {
  const d = loadOneDnn();
  if (!d) {
    throw new Error(
      `oneDNN is not available (${oneDnnLoadError()}); install it with: apt-get install libdnnl2`,
    );
  }
  if (registered) return d.version;
  const cpuFactory = tf.findBackendFactory("cpu");
  if (!cpuFactory) throw new Error("tfjs cpu backend is not registered");
  // tfjs's cpu backend, its freed buffers recycled for our kernels' outputs (buffer_pool.ts).
  tf.registerBackend("onednn", () => poolBuffers(cpuFactory() as tf.KernelBackend), 0);
  const cpuKernels = new Map(tf.getKernelsForBackend("cpu").map((k) => [k.kernelName, k]));
  for (const k of cpuKernels.values()) tf.registerKernel({ ...k, backendName: "onednn" });
  const fallback = (name: string) => cpuKernels.get(name)!.kernelFunc;
  const fast = [
    ...makeKernels(d, fallback),
    ...makeElementwiseKernels(fallback, d),
    ...makePoolingKernels(d, fallback),
    concatKernel(d, fallback),
  ];
  for (const k of [...fast, adamKernel("onednn")]) {
    if (tf.getKernel(k.kernelName, "onednn")) tf.unregisterKernel(k.kernelName, "onednn");
    tf.registerKernel(k);
  }
  registered = true;
  return d.version;
}
