/**
 * Fast JS kernels for the element-wise ops that dominate a GAN step once convolutions are in
 * oneDNN: broadcasting binary ops, comparisons, select and reductions over contiguous axes.
 * tfjs-backend-cpu computes a multi-index per element for any broadcast (and transposes before
 * every reduction); here broadcasting walks precomputed strides with a tight innermost loop.
 * Shapes we do not cover fall back to the cpu kernels.
 */
import * as tf from "@tensorflow/tfjs";

type Arr = Float32Array | Int32Array | Uint8Array;
type CpuBackend = tf.KernelBackend & {
  data: { get(id: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Arr): tf.TensorInfo;
};

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

function values(b: CpuBackend, t: tf.TensorInfo): Arr {
  return b.data.get(t.dataId).values as Arr;
}

export function makeElementwiseKernels(
  fallback: (name: string) => tf.KernelFunc,
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
        : new Float32Array(size);
      binary(op, values(backend, a), a.shape, values(backend, b), b.shape, out, outShape);
      return backend.makeTensorInfo(outShape, dtype, out);
    },
  }));
  for (const [name, kind] of [["Sum", "sum"], ["Mean", "mean"], ["Max", "max"]] as const) {
    kernels.push({
      kernelName: name,
      backendName: "onednn",
      kernelFunc: (args) => {
        const { x } = args.inputs as { x: tf.TensorInfo };
        const { axis, keepDims } = args.attrs as unknown as {
          axis: number | number[];
          keepDims: boolean;
        };
        const backend = args.backend as CpuBackend;
        if (x.dtype !== "float32" || x.shape.length === 0) return fallback(name)(args);
        const axes = tf.util.parseAxisParam(axis, x.shape);
        const out = reduceContiguous(kind, values(backend, x) as Float32Array, x.shape, axes);
        if (!out) return fallback(name)(args);
        const outShape = keepDims
          ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
          : x.shape.filter((_, i) => !axes.includes(i));
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
      const out = new Float32Array(size);
      for (let i = 0; i < size; i++) out[i] = c[i] ? tv[i] : ev[i];
      return backend.makeTensorInfo([...t.shape], "float32", out);
    },
  });
  return kernels;
}
