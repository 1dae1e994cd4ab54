/**
 * Kernels for the element-wise ops that dominate a GAN step once convolutions are in oneDNN:
 * broadcasting binary ops, comparisons, select, unary math and reductions over contiguous axes.
 * Large float32 tensors go to oneDNN's multi-threaded eltwise/binary/reduction primitives
 * (`eltwise_primitives.ts`); the rest to JS loops here: tfjs-backend-cpu computes a multi-index per element for
 * any broadcast (and transposes before every reduction), while here broadcasting walks
 * precomputed strides with a tight innermost loop. Shapes we do not cover fall back to the cpu
 * kernels.
 */
import * as tf from "@tensorflow/tfjs";
import type { CpuBackend } from "../js_array_backend.ts";
import type { OneDnn } from "./ffi.ts";
import * as dnnOps from "./eltwise_primitives.ts";
import { alloc } from "./buffer_pool.ts";

type Arr = Float32Array | Int32Array | Uint8Array;
const enum Op {
  Add,
  Sub,
  Mul,
  Div,
  Max,
  Min,
  Gt,
  Ge,
  Lt,
  Le,
  Eq,
  SqDiff,
}

const BINARY: [string, Op][] = [
  ["Add", Op.Add],
  ["Sub", Op.Sub],
  ["Multiply", Op.Mul],
  ["RealDiv", Op.Div],
  ["Maximum", Op.Max],
  ["Minimum", Op.Min],
  ["Greater", Op.Gt],
  ["GreaterEqual", Op.Ge],
  ["Less", Op.Lt],
  ["LessEqual", Op.Le],
  ["Equal", Op.Eq],
  ["SquaredDifference", Op.SqDiff],
];

function isComparison(op: Op): boolean {
  return op >= Op.Gt && op <= Op.Eq;
}

/** out[o..o+n) = a[ia + i*sa] (op) b[ib + i*sb]. */
function row(
  op: Op,
  out: Arr,
  o: number,
  a: Arr,
  ia: number,
  sa: number,
  b: Arr,
  ib: number,
  sb: number,
  n: number,
) {
  switch (op) {
    case Op.Add:
      for (let i = 0; i < n; i++) out[o + i] = a[ia + i * sa] + b[ib + i * sb];
      break;
    case Op.Sub:
      for (let i = 0; i < n; i++) out[o + i] = a[ia + i * sa] - b[ib + i * sb];
      break;
    case Op.Mul:
      for (let i = 0; i < n; i++) out[o + i] = a[ia + i * sa] * b[ib + i * sb];
      break;
    case Op.Div:
      for (let i = 0; i < n; i++) out[o + i] = a[ia + i * sa] / b[ib + i * sb];
      break;
    case Op.Max:
      for (let i = 0; i < n; i++) out[o + i] = Math.max(a[ia + i * sa], b[ib + i * sb]);
      break;
    case Op.Min:
      for (let i = 0; i < n; i++) out[o + i] = Math.min(a[ia + i * sa], b[ib + i * sb]);
      break;
    case Op.Gt:
      for (let i = 0; i < n; i++) out[o + i] = a[ia + i * sa] > b[ib + i * sb] ? 1 : 0;
      break;
    case Op.Ge:
      for (let i = 0; i < n; i++) out[o + i] = a[ia + i * sa] >= b[ib + i * sb] ? 1 : 0;
      break;
    case Op.Lt:
      for (let i = 0; i < n; i++) out[o + i] = a[ia + i * sa] < b[ib + i * sb] ? 1 : 0;
      break;
    case Op.Le:
      for (let i = 0; i < n; i++) out[o + i] = a[ia + i * sa] <= b[ib + i * sb] ? 1 : 0;
      break;
    case Op.Eq:
      for (let i = 0; i < n; i++) out[o + i] = a[ia + i * sa] === b[ib + i * sb] ? 1 : 0;
      break;
    case Op.SqDiff:
      for (let i = 0; i < n; i++) {
        const d = a[ia + i * sa] - b[ib + i * sb];
        out[o + i] = d * d;
      }
      break;
  }
}

/** True when `shape`, after dropping leading 1s, equals the trailing dimensions of `outShape`. */
function isTrailing(shape: readonly number[], outShape: number[]): boolean {
  let i = 0;
  while (i < shape.length && shape[i] === 1) i++;
  const t = shape.slice(i);
  return t.every((d, k) => d === outShape[outShape.length - t.length + k]);
}

/** Element strides of `shape` seen as `outShape` (0 along broadcast dimensions). */
function broadcastStrides(shape: readonly number[], outShape: number[]): number[] {
  const rank = outShape.length;
  const padded = [...Array(rank - shape.length).fill(1), ...shape];
  const strides = new Array(rank).fill(0);
  let s = 1;
  for (let d = rank - 1; d >= 0; d--) {
    strides[d] = padded[d] === 1 && outShape[d] !== 1 ? 0 : s;
    s *= padded[d];
  }
  return strides;
}

export function binary(
  op: Op,
  a: Arr,
  aShape: readonly number[],
  b: Arr,
  bShape: readonly number[],
  out: Arr,
  outShape: number[],
) {
  const size = out.length;
  if (size === 0) return;
  if (a.length === size && b.length === size) return row(op, out, 0, a, 0, 1, b, 0, 1, size);
  if (b.length === 1) return row(op, out, 0, a, 0, 1, b, 0, 0, size);
  if (a.length === 1) return row(op, out, 0, a, 0, 0, b, 0, 1, size);
  // a full, b a trailing block (e.g. a bias [C] on [N,H,W,C]): rows of b.length, no odometer.
  if (a.length === size && size % b.length === 0 && isTrailing(bShape, outShape)) {
    for (let o = 0; o < size; o += b.length) row(op, out, o, a, o, 1, b, 0, 1, b.length);
    return;
  }
  const rank = outShape.length;
  const sa = broadcastStrides(aShape, outShape);
  const sb = broadcastStrides(bShape, outShape);
  const inner = outShape[rank - 1];
  const idx = new Array(rank - 1).fill(0);
  let ia = 0, ib = 0;
  for (let o = 0; o < size; o += inner) {
    row(op, out, o, a, ia, sa[rank - 1], b, ib, sb[rank - 1], inner);
    // Odometer over the outer dimensions, updating both offsets incrementally.
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]++;
      ia += sa[d];
      ib += sb[d];
      if (idx[d] < outShape[d]) break;
      ia -= sa[d] * outShape[d];
      ib -= sb[d] * outShape[d];
      idx[d] = 0;
    }
  }
}

/** Sum/mean/max over axes that form one contiguous run: viewed as [outer, reduce, inner]. */
export function reduceContiguous(
  kind: "sum" | "mean" | "max",
  x: Float32Array,
  shape: readonly number[],
  axes: number[],
): Float32Array | null {
  const sorted = [...axes].sort((p, q) => p - q);
  for (let i = 1; i < sorted.length; i++) if (sorted[i] !== sorted[i - 1] + 1) return null;
  const first = sorted[0], last = sorted[sorted.length - 1];
  const outer = shape.slice(0, first).reduce((p, q) => p * q, 1);
  const red = shape.slice(first, last + 1).reduce((p, q) => p * q, 1);
  const inner = shape.slice(last + 1).reduce((p, q) => p * q, 1);
  const out = new Float32Array(outer * inner);
  if (kind === "max") out.fill(-Infinity);
  for (let o = 0; o < outer; o++) {
    const base = o * red * inner;
    const ob = o * inner;
    if (inner === 1) {
      let acc = kind === "max" ? -Infinity : 0;
      if (kind === "max") { for (let r = 0; r < red; r++) acc = Math.max(acc, x[base + r]); }
      else for (let r = 0; r < red; r++) acc += x[base + r];
      out[ob] = acc;
      continue;
    }
    for (let r = 0; r < red; r++) {
      const src = base + r * inner;
      if (kind === "max") {
        for (let i = 0; i < inner; i++) out[ob + i] = Math.max(out[ob + i], x[src + i]);
      } else for (let i = 0; i < inner; i++) out[ob + i] += x[src + i];
    }
  }
  if (kind === "mean" && red > 0) { for (let i = 0; i < out.length; i++) out[i] /= red; }
  return out;
}

/** Axes 0..k-1 (in any order). */
function isLeading(axes: number[]): boolean {
  return axes.every((a) => a < axes.length) && new Set(axes).size === axes.length;
}

function values(b: CpuBackend, t: tf.TensorInfo): Arr {
  return b.data.get(t.dataId).values as Arr;
}

/** oneDNN binary algorithms for the ops it computes exactly as JS does. */
const DNN_BINARY = new Map<Op, number>([
  [Op.Add, dnnOps.ALG.binaryAdd],
  [Op.Sub, dnnOps.ALG.binarySub],
  [Op.Mul, dnnOps.ALG.binaryMul],
  [Op.Div, dnnOps.ALG.binaryDiv],
]);
const COMMUTATIVE = new Set<Op>([Op.Add, Op.Mul]);

function padTo(shape: readonly number[], rank: number): number[] {
  return [...Array(rank - shape.length).fill(1), ...shape];
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** out = a (op) b in oneDNN for large float32 tensors; false: use the JS loop. */
function dnnBinary(
  dnn: OneDnn,
  op: Op,
  a: Float32Array,
  aShape: readonly number[],
  b: Float32Array,
  bShape: readonly number[],
  out: Float32Array,
  outShape: number[],
): boolean {
  const alg = DNN_BINARY.get(op);
  if (alg === undefined || out.length < dnnOps.MIN_ELEMENTS) return false;
  const rank = outShape.length;
  if (a.length === out.length && sameShape(padTo(aShape, rank), outShape)) {
    return dnnOps.binary(dnn, alg, a, outShape, b, padTo(bShape, rank), out);
  }
  if (COMMUTATIVE.has(op) && b.length === out.length && sameShape(padTo(bShape, rank), outShape)) {
    return dnnOps.binary(dnn, alg, b, outShape, a, padTo(aShape, rank), out);
  }
  return false;
}

/** Unary float ops computed by oneDNN eltwise for large tensors: [kernel, alg, alpha, beta]. */
const UNARY: [string, number, number, number][] = [
  ["Tanh", dnnOps.ALG.tanh, 0, 0],
  ["Sigmoid", dnnOps.ALG.logistic, 0, 0],
  ["Sqrt", dnnOps.ALG.sqrt, 0, 0],
  ["Square", dnnOps.ALG.square, 0, 0],
  ["Relu", dnnOps.ALG.relu, 0, 0],
  ["Abs", dnnOps.ALG.abs, 0, 0],
  ["Neg", dnnOps.ALG.linear, -1, 0],
  ["Exp", dnnOps.ALG.exp, 0, 0],
];

export function makeElementwiseKernels(
  fallback: (name: string) => tf.KernelFunc,
  dnn: OneDnn | null = null,
): tf.KernelConfig[] {
  const kernels: tf.KernelConfig[] = BINARY.map(([name, op]) => ({
    kernelName: name,
    backendName: "onednn",
    kernelFunc: (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const backend = args.backend as CpuBackend;
      if (
        a.dtype !== b.dtype || (a.dtype !== "float32" && a.dtype !== "int32") ||
        (op === Op.Div && a.dtype !== "float32")
      ) {
        return fallback(name)(args);
      }
      const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      const size = outShape.reduce((p, q) => p * q, 1);
      const dtype = isComparison(op) ? "bool" : a.dtype;
      const out = dtype === "bool"
        ? new Uint8Array(size)
        : a.dtype === "int32"
        ? new Int32Array(size)
        : alloc(size);
      const av = values(backend, a), bv = values(backend, b);
      if (
        !(dnn && dtype === "float32" &&
          dnnBinary(
            dnn,
            op,
            av as Float32Array,
            a.shape,
            bv as Float32Array,
            b.shape,
            out as Float32Array,
            outShape,
          ))
      ) binary(op, av, a.shape, bv, b.shape, out, outShape);
      return backend.makeTensorInfo(outShape, dtype, out);
    },
  }));
  for (const [name, kind] of [["Sum", "sum"], ["Mean", "mean"], ["Max", "max"]] as const) {
    kernels.push({
      kernelName: name,
      backendName: "onednn",
      kernelFunc: (args) => {
        const { x } = args.inputs as { x: tf.TensorInfo };
        // Sum and Mean name their axes `axis`, Max `reductionIndices`.
        const { axis, reductionIndices, keepDims } = args.attrs as unknown as {
          axis?: number | number[];
          reductionIndices?: number | number[];
          keepDims: boolean;
        };
        const backend = args.backend as CpuBackend;
        if (x.dtype !== "float32" || x.shape.length === 0) return fallback(name)(args);
        const axes = tf.util.parseAxisParam(axis ?? reductionIndices!, x.shape);
        const xv = values(backend, x) as Float32Array;
        const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
        const outShape = keepDims ? kept : x.shape.filter((_, i) => !axes.includes(i));
        if (dnn && xv.length >= dnnOps.MIN_ELEMENTS && kind !== "max" && isLeading(axes)) {
          // Reducing the leading axes (a bias gradient): column sums of [rows, cols].
          const cols = kept.reduce((p, q) => p * q, 1), rows = xv.length / cols;
          const out = alloc(cols);
          dnnOps.columnSums(dnn, xv, rows, cols, out);
          if (kind === "mean") { for (let i = 0; i < cols; i++) out[i] /= rows; }
          return backend.makeTensorInfo(outShape, "float32", out);
        }
        if (dnn && xv.length >= dnnOps.MIN_ELEMENTS) {
          const out = alloc(kept.reduce((p, q) => p * q, 1));
          const alg = kind === "sum"
            ? dnnOps.ALG.reductionSum
            : kind === "mean"
            ? dnnOps.ALG.reductionMean
            : dnnOps.ALG.reductionMax;
          if (dnnOps.reduce(dnn, alg, xv, x.shape, kept, out)) {
            return backend.makeTensorInfo(outShape, "float32", out);
          }
        }
        const out = reduceContiguous(kind, xv, x.shape, axes);
        if (!out) return fallback(name)(args);
        return backend.makeTensorInfo(outShape, "float32", out);
      },
    });
  }
  kernels.push({
    kernelName: "Select",
    backendName: "onednn",
    kernelFunc: (args) => {
      const { condition, t, e } = args.inputs as Record<string, tf.TensorInfo>;
      const backend = args.backend as CpuBackend;
      const size = t.shape.reduce((p, q) => p * q, 1);
      const cs = condition.shape.reduce((p, q) => p * q, 1);
      if (cs !== size || t.dtype !== "float32" || e.dtype !== "float32") {
        return fallback("Select")(args);
      }
      const c = values(backend, condition), tv = values(backend, t), ev = values(backend, e);
      const out = alloc(size);
      for (let i = 0; i < size; i++) out[i] = c[i] ? tv[i] : ev[i];
      return backend.makeTensorInfo([...t.shape], "float32", out);
    },
  });
  if (dnn) {
    for (const [name, alg, alpha, beta] of UNARY) {
      kernels.push({
        kernelName: name,
        backendName: "onednn",
        kernelFunc: (args) => {
          const { x } = args.inputs as { x: tf.TensorInfo };
          const backend = args.backend as CpuBackend;
          if (x.dtype === "float32") {
            const xv = values(backend, x) as Float32Array;
            if (xv.length >= dnnOps.MIN_ELEMENTS) {
              const out = alloc(xv.length);
              if (dnnOps.eltwiseForward(dnn, alg, alpha, beta, xv, out)) {
                return backend.makeTensorInfo([...x.shape], "float32", out);
              }
            }
          }
          return fallback(name)(args);
        },
      });
    }
  }
  return kernels;
}
