/**
 * bf16 training on the onednn backend (switched on by backend/precision.ts): while it is on, the
 * conv and matmul kernels (conv_kernels.ts) give oneDNN bf16 copies of their inputs (activations,
 * gradients, weights) and take float32 results (accumulated in float32), so every tensor tfjs
 * sees stays float32: the weights, their gradients and Adam's state included.
 *
 * The copies of activations and gradients are made here, by oneDNN reorders (round to nearest
 * even; float32 subnormals become zero, as the CPU's conversion instruction does). A tensor feeds
 * two kernels in a row (dy: the input and the weight gradient of a conv), so the last few copies
 * are kept, by tfjs data id: tfjs never changes a tensor's data in place, so the same id means
 * the same values. Weights are converted by the conv plan's own reorder into oneDNN's blocked
 * layout, once per weight tensor (conv_kernels.ts).
 */
import { DNNL, type OneDnn } from "./ffi.ts";
import { memoryDesc } from "./memory_desc.ts";
import { execute, type Primitive, reorderPrimitive } from "./primitive.ts";

let enabled = false;

/** Turns the bf16 kernels on or off (backend/precision.ts decides whether the CPU has them). */
export function setBf16(on: boolean): void {
  enabled = on;
  if (!on) dropCopies();
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

interface Copy {
  id: object;
  src: Float32Array;
  bits: Uint16Array;
}

/** The copies kept, least recently used first. */
const recent: Copy[] = [];
/** A kernel converts at most two inputs: with four kept, neither evicts the other. */
const KEEP = 4;
/** Buffers of evicted copies, for the next copy of the same length. */
const spare: Uint16Array[] = [];
let conversions = 0, hits = 0;

/**
 * The bf16 copy of the float32 data of tfjs data id `id`: one of the last few made, or a fresh
 * one. Valid until the next few calls (at most `KEEP - 1` other copies later).
 */
export function bf16Copy(d: OneDnn, id: object, src: Float32Array): Uint16Array {
  const i = recent.findIndex((c) => c.id === id && c.src === src);
  if (i >= 0) {
    const [c] = recent.splice(i, 1);
    recent.push(c);
    hits++;
    return c.bits;
  }
  const j = spare.findIndex((b) => b.length === src.length);
  const bits = j >= 0 ? spare.splice(j, 1)[0] : new Uint16Array(src.length);
  toBf16(d, src, bits);
  conversions++;
  recent.push({ id, src, bits });
  if (recent.length > KEEP) {
    spare.push(recent.shift()!.bits);
    if (spare.length > KEEP) spare.shift();
  }
  return bits;
}

/** Frees the kept copies (when bf16 is switched off). */
function dropCopies(): void {
  recent.length = 0;
  spare.length = 0;
}

/** Activation/gradient conversions made and copies reused (tests, the benchmark's profile). */
export function bf16CopyStats(): { conversions: number; hits: number } {
  return { conversions, hits };
}
