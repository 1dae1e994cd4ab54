/**
 * Small host-array computations (host arrays in, host numbers out: SWD's projections, say) that
 * use tfjs ops as a maths library. On a GPU backend each would upload its inputs, wait, and read
 * back synchronously, which Deno's WebGPU cannot do. `hostCompute` runs them on tfjs's cpu
 * backend instead, so the numbers are the cpu backend's. On the JS-array backends it just runs.
 */
import * as tf from "@tensorflow/tfjs";

/** Backends whose tensors live off the host. */
const DEVICE_BACKENDS = new Set(["webgpu"]);

/**
 * `f()` with tfjs's cpu backend active (when a GPU backend is), switched back after. `f` must
 * only touch tensors it creates from host arrays; what it returns lives on the cpu backend.
 */
export function hostCompute<T>(f: () => T): T {
  const active = tf.getBackend();
  if (!DEVICE_BACKENDS.has(active)) return f();
  switchNow("cpu");
  try {
    return f();
  } finally {
    switchNow(active);
  }
}

/**
 * tfjs's setBackend is async only while a backend initialises: for one already initialised
 * (cpu initialises synchronously on first lookup) the switch is done when the call returns.
 */
function switchNow(name: string): void {
  if (!tf.findBackend(name)) throw new Error(`hostCompute: no ${name} backend`);
  void tf.setBackend(name);
  if (tf.getBackend() !== name) throw new Error(`hostCompute: could not switch to ${name}`);
}
