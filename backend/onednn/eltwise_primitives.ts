/**
 * oneDNN element-wise primitives on tfjs buffers: eltwise forward/backward (leaky ReLU, tanh,
 * sqrt, ...), broadcasting binary ops and reductions. They are vectorised and multi-threaded
 * (OpenMP), unlike the JS loops, but each call costs an FFI round trip and a parallel region, so
 * callers use them only for large tensors. Primitives are cached by geometry. A geometry for
 * which oneDNN offers only its scalar reference implementation is refused (null), so the caller
 * keeps its JS loop.
 */
import { check, DNNL, type OneDnn } from "./ffi.ts";
import { memoryDesc, memoryDescByTag } from "./memory_desc.ts";
import {
  createPrimitive,
  execute,
  implName,
  type Primitive,
  reorderPrimitive,
} from "./primitive.ts";

export const ALG = {
  relu: 31,
  tanh: 47,
  square: 79,
  abs: 95,
  sqrt: 111,
  linear: 127,
  exp: 191,
  softRelu: 159,
  logistic: 175,
  log: 239,
  binaryAdd: 131056,
  binaryMul: 131057,
  binaryMax: 131058,
  binaryMin: 131059,
  binaryDiv: 131060,
  binarySub: 131061,
  reductionMax: 196594,
  reductionSum: 196596,
  reductionMean: 196598,
} as const;

const TAG_A = 2;

/** Below this many elements the JS loops win (no FFI call, no parallel region). */
export const MIN_ELEMENTS = 1 << 15;

const eltwiseCache = new Map<string, Primitive | null>();
const binaryCache = new Map<string, Primitive | null>();
const reductionCache = new Map<string, Primitive | null>();
const columnSumCache = new Map<string, Primitive>();
const upsampleCache = new Map<string, Primitive[] | null>();
let ones = new Float32Array(0);

/** Built primitives, for tests (to see that the oneDNN path really ran). */
export function opPrimitiveCount(): number {
  let n = 0;
  for (const c of [eltwiseCache, binaryCache, reductionCache, columnSumCache, upsampleCache]) {
    for (const p of c.values()) if (p) n++;
  }
  return n;
}

function vector(d: OneDnn, n: number) {
  return memoryDescByTag(d, [n], TAG_A);
}

/** A primitive unless oneDNN can only offer its reference (scalar) implementation. */
function accept(d: OneDnn, p: Primitive): Primitive | null {
  return implName(d, p.pd).startsWith("ref") ? null : p;
}

function eltwiseFwdPrimitive(d: OneDnn, alg: number, alpha: number, beta: number, n: number) {
  const key = `f${alg},${alpha},${beta},${n}`;
  let p = eltwiseCache.get(key);
  if (p === undefined) {
    const desc = new Uint8Array(DNNL.eltwiseDescSize);
    const md = vector(d, n);
    check(
      d.lib.dnnl_eltwise_forward_desc_init(desc, DNNL.forwardTraining, alg, md, alpha, beta),
      "eltwise_forward_desc_init",
    );
    p = accept(d, createPrimitive(d, desc, [DNNL.argSrc, DNNL.argDst]));
    eltwiseCache.set(key, p);
  }
  return p;
}

/** out = f(x) for a oneDNN eltwise algorithm; false when not available (use JS). */
export function eltwiseForward(
  d: OneDnn,
  alg: number,
  alpha: number,
  beta: number,
  x: Float32Array,
  out: Float32Array,
): boolean {
  const p = eltwiseFwdPrimitive(d, alg, alpha, beta, x.length);
  if (!p) return false;
  execute(d, p, [[DNNL.argSrc, x], [DNNL.argDst, out]]);
  return true;
}

/** out = dy * f'(x) for a oneDNN eltwise algorithm (x: the forward input). */
export function eltwiseBackward(
  d: OneDnn,
  alg: number,
  alpha: number,
  beta: number,
  dy: Float32Array,
  x: Float32Array,
  out: Float32Array,
): boolean {
  const n = x.length;
  const key = `b${alg},${alpha},${beta},${n}`;
  let p = eltwiseCache.get(key);
  if (p === undefined) {
    const hint = eltwiseFwdPrimitive(d, alg, alpha, beta, n);
    p = null;
    if (hint) {
      const desc = new Uint8Array(DNNL.eltwiseDescSize);
      const md = vector(d, n);
      check(
        d.lib.dnnl_eltwise_backward_desc_init(desc, alg, md, md, alpha, beta),
        "eltwise_backward_desc_init",
      );
      p = accept(
        d,
        createPrimitive(d, desc, [DNNL.argSrc, DNNL.argDiffDst, DNNL.argDiffSrc], hint.pd),
      );
    }
    eltwiseCache.set(key, p);
  }
  if (!p) return false;
  execute(d, p, [[DNNL.argSrc, x], [DNNL.argDiffDst, dy], [DNNL.argDiffSrc, out]]);
  return true;
}

function denseStrides(shape: number[]): number[] {
  const s = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/**
 * Merges adjacent dimensions along which both operands behave alike (both full, or `b`
 * broadcast), so [N,H,W,C] + [1,1,1,C] becomes [NHW, C] + [1, C]. `b` is given padded to the
 * rank of `out`; `a` has the shape of `out`.
 */
export function collapse(out: number[], b: number[]): [number[], number[]] {
  const o: number[] = [], bb: number[] = [];
  for (let i = 0; i < out.length; i++) {
    if (out[i] === 1) continue;
    const bcast = b[i] === 1;
    const last = o.length - 1;
    if (last >= 0 && (bb[last] === 1) === bcast) {
      o[last] *= out[i];
      bb[last] *= b[i];
    } else {
      o.push(out[i]);
      bb.push(b[i]);
    }
  }
  if (o.length === 0) return [[1], [1]];
  return [o, bb];
}

/**
 * out = a (op) b with `b` broadcast to `a`'s shape (`a` has the output's shape; `bShape` is
 * padded to the same rank). False when oneDNN has no fast kernel for this geometry.
 */
export function binary(
  d: OneDnn,
  alg: number,
  a: Float32Array,
  outShape: number[],
  b: Float32Array,
  bShape: number[],
  out: Float32Array,
): boolean {
  const [od, bd] = collapse(outShape, bShape);
  const key = `${alg}|${od}|${bd}`;
  let p = binaryCache.get(key);
  if (p === undefined) {
    const desc = new Uint8Array(DNNL.binaryDescSize);
    const mdA = memoryDesc(d, od, denseStrides(od));
    const mdB = memoryDesc(d, bd, denseStrides(bd));
    check(d.lib.dnnl_binary_desc_init(desc, alg, mdA, mdB, mdA), "binary_desc_init");
    p = accept(d, createPrimitive(d, desc, [DNNL.argSrc, DNNL.argSrc1, DNNL.argDst]));
    binaryCache.set(key, p);
  }
  if (!p) return false;
  execute(d, p, [[DNNL.argSrc, a], [DNNL.argSrc1, b], [DNNL.argDst, out]]);
  return true;
}

/** Sum/mean/max of `x` (shape `shape`) down to `outShape` (same rank, 1 on reduced axes). */
export function reduce(
  d: OneDnn,
  alg: number,
  x: Float32Array,
  shape: number[],
  outShape: number[],
  out: Float32Array,
): boolean {
  // Merge runs of reduced / kept dimensions (a reduction needs no more than that).
  const [xd, od] = collapse(shape, outShape);
  const key = `${alg}|${xd}|${od}`;
  let p = reductionCache.get(key);
  if (p === undefined) {
    const desc = new Uint8Array(DNNL.reductionDescSize);
    const mdX = memoryDesc(d, xd, denseStrides(xd));
    const mdO = memoryDesc(d, od, denseStrides(od));
    check(d.lib.dnnl_reduction_desc_init(desc, alg, mdX, mdO, 0, 0), "reduction_desc_init");
    p = accept(d, createPrimitive(d, desc, [DNNL.argSrc, DNNL.argDst]));
    reductionCache.set(key, p);
  }
  if (!p) return false;
  execute(d, p, [[DNNL.argSrc, x], [DNNL.argDst, out]]);
  return true;
}

/**
 * Column sums of a row-major [rows, cols] matrix (e.g. a bias gradient: sum over N, H, W of
 * NHWC), as the matrix product ones[1, rows] x X. oneDNN's reduction primitive has only its
 * reference implementation for reducing leading dimensions; its matmul is ~10x faster than a
 * JS loop here and sums in a blocked order (more accurate than one running float32 sum).
 */
export function columnSums(
  d: OneDnn,
  x: Float32Array,
  rows: number,
  cols: number,
  out: Float32Array,
): void {
  const key = `${rows},${cols}`;
  let p = columnSumCache.get(key);
  if (!p) {
    const desc = new Uint8Array(DNNL.matmulDescSize);
    check(
      d.lib.dnnl_matmul_desc_init(
        desc,
        memoryDesc(d, [1, rows], [rows, 1]),
        memoryDesc(d, [rows, cols], [cols, 1]),
        null as unknown as Uint8Array<ArrayBuffer>,
        memoryDesc(d, [1, cols], [cols, 1]),
      ),
      "matmul_desc_init",
    );
    p = createPrimitive(d, desc, [DNNL.argSrc, DNNL.argWeights, DNNL.argDst]);
    columnSumCache.set(key, p);
  }
  if (ones.length < rows) ones = new Float32Array(rows).fill(1);
  execute(d, p, [[DNNL.argSrc, ones.subarray(0, rows)], [DNNL.argWeights, x], [DNNL.argDst, out]]);
}

/**
 * Nearest-neighbour upsampling of NHWC `x` ([n, h, w, c]) by integer factors (fy, fx): a
 * reorder whose source repeats each pixel through zero strides, viewed as [n, h, fy, w, fx, c].
 * (oneDNN's resampling primitive would do, but Debian's 2.6 build crashes creating it for some
 * shapes, e.g. 32x256x4x4 -> 8x8.) False when oneDNN has no fast reorder for it.
 */
export function upsampleNearest(
  d: OneDnn,
  x: Float32Array,
  [n, h, w, c]: number[],
  fy: number,
  fx: number,
  out: Float32Array,
): boolean {
  const key = `up${n},${h},${w},${c},${fy},${fx}`;
  let p = upsampleCache.get(key);
  if (p === undefined) {
    const view = [n, h, fy, w, fx, c];
    const src = memoryDesc(d, view, [h * w * c, w * c, 0, c, 0, 1]);
    const dst = memoryDesc(d, view, denseStrides(view));
    const r = accept(d, reorderPrimitive(d, src, dst));
    p = r ? [r] : null;
    upsampleCache.set(key, p);
  }
  if (!p) return false;
  execute(d, p[0], [[DNNL.argFrom, x], [DNNL.argTo, out]]);
  return true;
}

/**
 * Gradient of `upsampleNearest`: dx ([n, h, w, c]) sums the fy * fx copies of each pixel in dy.
 * One strided reorder per copy (offset (a, b) in each block), the first writing dx, the others
 * adding into it.
 */
export function upsampleNearestGrad(
  d: OneDnn,
  dy: Float32Array,
  [n, h, w, c]: number[],
  fy: number,
  fx: number,
  dx: Float32Array,
): boolean {
  const key = `grad${n},${h},${w},${c},${fy},${fx}`;
  let p = upsampleCache.get(key);
  if (p === undefined) {
    const ow = w * fx;
    // The copy at offset (a, b): dy[i, y * fy + a, x * fx + b, k], viewed as [n, h, w, c].
    const src = memoryDesc(d, [n, h, w, c], [h * fy * ow * c, fy * ow * c, fx * c, 1]);
    const dst = memoryDesc(d, [n, h, w, c], denseStrides([n, h, w, c]));
    const first = accept(d, reorderPrimitive(d, src, dst));
    const rest = first && accept(d, reorderPrimitive(d, src, dst, true));
    p = first && rest ? [first, rest] : null;
    upsampleCache.set(key, p);
  }
  if (!p) return false;
  const ow = w * fx;
  for (let a = 0; a < fy; a++) {
    for (let b = 0; b < fx; b++) {
      const offset = (a * ow + b) * c;
      const view = dy.subarray(offset);
      execute(d, a === 0 && b === 0 ? p[0] : p[1], [[DNNL.argFrom, view], [DNNL.argTo, dx]]);
    }
  }
  return true;
}
