/**
 * bf16 training on the onednn backend (switched on by backend/precision.ts): while it is on, the
 * conv (forward, input gradient) and matmul kernels (conv_kernels.ts) give oneDNN bf16 copies of
 * their inputs (activations, gradients, weights) and take float32 results (accumulated in
 * float32), so every tensor tfjs sees stays float32: the weights, their gradients and Adam's
 * state included.
 *
 * The copies of activations and gradients are made here, by oneDNN reorders (round to nearest
 * even; float32 subnormals become zero, as the CPU's conversion instruction does), into one of two
 * scratch buffers per call: each such input is read once (a conv's input by its forward, a
 * gradient by its input gradient), so keeping copies would cost memory and save nothing. Weights
 * are converted by the conv plan's own reorder into oneDNN's blocked layout, once per weight
 * tensor (conv_kernels.ts).
 *
 * Weight gradients stay float32 (on float32 inputs): oneDNN 2.6's bf16 weight-gradient kernel
 * synchronises its threads with spin barriers many times per call, and on a machine other
 * processes keep busy, a descheduled thread stalls the others at each barrier: the reference GAN
 * step (bench/backend.ts) ran many times slower than in fp32, where with one thread, or with
 * float32 weight gradients, it ran faster.
 */
import { DNNL, type OneDnn } from "./ffi.ts";
import { memoryDesc } from "./memory_desc.ts";
import { execute, type Primitive, reorderPrimitive } from "./primitive.ts";

let enabled = false;

/** Turns the bf16 kernels on or off (backend/precision.ts decides whether the CPU has them). */
export function setBf16(on: boolean): void {
  enabled = on;
  if (!on) scratch.fill(new Uint16Array(0));
}

/** Whether conv and matmul kernels run in bf16 now. */
export function bf16Enabled(): boolean {
  return enabled;
}

/** One float32 -> bf16 reorder per element count (a flat copy of a whole buffer). */
const converters = new Map<number, Primitive>();

/** Rounds `src` to bf16 into `out` (same length) with a oneDNN reorder, on all threads. */
export function toBf16(d: OneDnn, src: Float32Array, out: Uint16Array): void {
  const n = src.length;
  if (out.length !== n) throw new Error(`toBf16: ${n} values into ${out.length}`);
  if (n === 0) return;
  let p = converters.get(n);
  if (!p) {
    p = reorderPrimitive(d, memoryDesc(d, [n], [1]), memoryDesc(d, [n], [1], DNNL.bf16));
    converters.set(n, p);
  }
  execute(d, p, [[DNNL.argFrom, src], [DNNL.argTo, out]]);
}

/** The two scratch buffers (a kernel's two inputs), grown to the largest input seen. */
const scratch = [new Uint16Array(0), new Uint16Array(0)];
let conversions = 0;

/**
 * A bf16 copy of `src` in scratch buffer `slot` (0 or 1: a kernel's first or second input),
 * valid until the next copy into the same slot.
 */
export function bf16Scratch(d: OneDnn, src: Float32Array, slot: 0 | 1): Uint16Array {
  if (scratch[slot].length < src.length) scratch[slot] = new Uint16Array(src.length);
  const out = scratch[slot].subarray(0, src.length);
  toBf16(d, src, out);
  conversions++;
  return out;
}

/** Activation and gradient conversions made so far (tests, the benchmark). */
export function bf16Conversions(): number {
  return conversions;
}
