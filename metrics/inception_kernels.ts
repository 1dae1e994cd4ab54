/**
 * Two small kernels for pytorch-fid's Inception (metrics/inception.ts) on tfjs's cpu backend: its
 * separate Add + Relu and its generic pooling loops took half the forward time; one pass each
 * here. The onednn backend runs conv + bias + ReLU as one fused primitive and pools with oneDNN;
 * other backends use the plain tfjs ops.
 */
import * as tf from "@tensorflow/tfjs";

type CpuBackend = tf.KernelBackend & {
  data: { get(id: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
};
const BIAS_RELU = "GanflowInceptionBiasRelu";
const POOL3 = "GanflowInceptionPool3";
const JS_BACKENDS = ["cpu"];

/** out = max(x + b, 0), b broadcast over the last axis. */
export function biasReluJs(x: Float32Array, b: Float32Array, out: Float32Array): void {
  const c = b.length;
  for (let i = 0; i < x.length; i += c) {
    for (let k = 0; k < c; k++) {
      const v = x[i + k] + b[k];
      out[i + k] = v > 0 ? v : 0;
    }
  }
}

/** TF pooling geometry along one axis: output size and padding before (SAME or VALID). */
function poolAxis(size: number, stride: number, pad: "same" | "valid") {
  if (pad === "valid") return { out: Math.floor((size - 3) / stride) + 1, before: 0 };
  const out = Math.ceil(size / stride);
  return { out, before: Math.floor(Math.max((out - 1) * stride + 3 - size, 0) / 2) };
}

/**
 * dst[d + k] = max or scaled sum of src[p0 + k], src[p1 + k], src[p2 + k] (the first `count`
 * runs) for k < len: one window position of a separable 3-wide pool, kept monomorphic and
 * unrolled so V8 compiles it to a tight loop.
 */
function window3(
  src: Float32Array,
  dst: Float32Array,
  d: number,
  p0: number,
  count: number,
  step: number,
  len: number,
  max: boolean,
): void {
  const p1 = p0 + step, p2 = p0 + 2 * step;
  if (max) {
    if (count === 3) {
      for (let k = 0; k < len; k++) {
        let a = src[p0 + k];
        const b = src[p1 + k], c = src[p2 + k];
        if (b > a) a = b;
        if (c > a) a = c;
        dst[d + k] = a;
      }
    } else if (count === 2) {
      for (let k = 0; k < len; k++) {
        const a = src[p0 + k], b = src[p1 + k];
        dst[d + k] = b > a ? b : a;
      }
    } else for (let k = 0; k < len; k++) dst[d + k] = src[p0 + k];
  } else {
    if (count === 3) {
      for (let k = 0; k < len; k++) dst[d + k] = (src[p0 + k] + src[p1 + k] + src[p2 + k]) / 3;
    } else if (count === 2) {
      for (let k = 0; k < len; k++) dst[d + k] = (src[p0 + k] + src[p1 + k]) / 2;
    } else for (let k = 0; k < len; k++) dst[d + k] = src[p0 + k];
  }
}

/** The row-pass buffer of pool3Js, kept between calls (fresh memory is slow to touch). */
let scratch = new Float32Array(0);

/**
 * 3x3 max or average pool of NHWC data, separably (rows, then columns); the average counts only
 * the pixels inside the image, as TF (and pytorch-fid's count_include_pad=False) do.
 */
export function pool3Js(
  x: Float32Array,
  [n, h, w, c]: readonly number[],
  kind: "max" | "avg",
  stride: number,
  pad: "same" | "valid",
): { out: Float32Array; shape: [number, number, number, number] } {
  const ax = poolAxis(w, stride, pad), ay = poolAxis(h, stride, pad);
  const max = kind === "max";
  const need = n * h * ax.out * c;
  if (scratch.length < need) scratch = new Float32Array(need);
  const tmp = scratch;
  for (let r = 0; r < n * h; r++) {
    for (let o = 0; o < ax.out; o++) {
      const s = o * stride - ax.before;
      const lo = Math.max(s, 0), hi = Math.min(s + 2, w - 1);
      window3(x, tmp, (r * ax.out + o) * c, (r * w + lo) * c, hi - lo + 1, c, c, max);
    }
  }
  const out = new Float32Array(n * ay.out * ax.out * c);
  const rowLen = ax.out * c;
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < ay.out; o++) {
      const s = o * stride - ay.before;
      const lo = Math.max(s, 0), hi = Math.min(s + 2, h - 1);
      const d = (b * ay.out + o) * rowLen;
      window3(tmp, out, d, (b * h + lo) * rowLen, hi - lo + 1, rowLen, rowLen, max);
    }
  }
  return { out, shape: [n, ay.out, ax.out, c] };
}

function registerJsKernels(): void {
  for (const backendName of JS_BACKENDS) {
    if (!tf.findBackend(backendName) || tf.getKernel(BIAS_RELU, backendName)) continue;
    tf.registerKernel({
      kernelName: BIAS_RELU,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const { x, b } = inputs as { x: tf.TensorInfo; b: tf.TensorInfo };
        const be = backend as CpuBackend;
        const xv = be.data.get(x.dataId).values as Float32Array;
        // In place: x is the conv output that conv() below drops right after this call.
        // Writing into it spares a fresh array (first-touch page faults cost more than the
        // arithmetic on this kind of VM).
        biasReluJs(xv, be.data.get(b.dataId).values as Float32Array, xv);
        return be.makeTensorInfo([...x.shape], "float32", xv);
      },
    });
    tf.registerKernel({
      kernelName: POOL3,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x } = inputs as { x: tf.TensorInfo };
        const a = attrs as unknown as {
          kind: "max" | "avg";
          stride: number;
          pad: "same" | "valid";
        };
        const be = backend as CpuBackend;
        const xv = be.data.get(x.dataId).values as Float32Array;
        const { out, shape } = pool3Js(xv, x.shape, a.kind, a.stride, a.pad);
        return be.makeTensorInfo(shape, "float32", out);
      },
    });
  }
}

/** Whether the current backend takes these kernels. */
export const jsFastPath = () => JS_BACKENDS.includes(tf.getBackend());

/** max(y + b, 0) in one pass, written into y's buffer: y must not be used afterwards. */
export function biasReluInPlace(y: tf.Tensor4D, b: tf.Tensor1D): tf.Tensor4D {
  registerJsKernels();
  return tf.engine().runKernel(BIAS_RELU, { x: y, b }, {}) as tf.Tensor4D;
}

/** A 3x3 max or average pool (TF geometry; the average does not count padding). */
export function pool3(x: tf.Tensor4D, kind: "max" | "avg", stride: number, pad: "same" | "valid") {
  if (jsFastPath()) {
    registerJsKernels();
    return tf.engine().runKernel(POOL3, { x }, { kind, stride, pad }) as tf.Tensor4D;
  }
  return kind === "max" ? tf.maxPool(x, 3, stride, pad) : tf.avgPool(x, 3, stride, pad);
}
