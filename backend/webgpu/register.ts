/**
 * What ganflow adds to tfjs-backend-webgpu once it is the active backend. Every custom kernel of
 * the JS-array backends (pixel norm, the fused Adam update, the one-pass leaky-ReLU gradient,
 * fast slicing, the compiled decoder chains) is looked up per backend, so on WebGPU each op
 * runs as the composite tfjs ops its module falls back to; those are checked against the cpu
 * backend by parity_test.ts. Here: synchronous reads fail with a clear error instead of
 * tfjs's canvas path (see host_read.ts).
 */
import { guardSyncReads } from "./host_read.ts";

export function prepareWebGpu(): void {
  guardSyncReads("webgpu");
}
