/**
 * What ganflow adds to tfjs-backend-webgpu once it is the active backend: synchronous reads fail
 * with a clear error instead of tfjs's canvas path (host_read.ts), and WGSL kernels for the
 * leaky-ReLU gradient and pixel norm (kernels.ts). The other custom kernels of the JS-array
 * backends (fused Adam, fast slicing, lean BN+GLU's parts, the compiled decoder chains) are
 * looked up per backend, so on WebGPU they run as the composite tfjs ops their modules fall back
 * to. All of it is checked against the cpu backend by parity_test.ts.
 */
import { guardSyncReads, watchGpuErrors } from "../host_read.ts";
import { registerWebGpuKernels } from "./kernels.ts";

export function prepareWebGpu(): void {
  guardSyncReads("webgpu");
  watchGpuErrors("webgpu");
  registerWebGpuKernels("webgpu");
}
