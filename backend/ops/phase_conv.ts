/**
 * Nearest 2x upsampling followed by a 3x3 "same" conv, as phase convolutions at the input's
 * resolution. Output pixel (2i + a, 2j + b) reads upsampled rows 2i + a - 1 .. 2i + a + 1, i.e.
 * input rows i + a - 1 and i + a only: along each axis the three taps fold into two, phase 0
 * taking {w0, w1 + w2} on rows {i - 1, i} and phase 1 {w0 + w1, w2} on rows {i, i + 1}. So each
 * of the four output phases (a, b) is a 2x2 conv of the input, 4 multiply-adds per output value
 * and channel pair instead of 9, and the upsampled tensor is never built:
 *
 *   z = conv2d(x, phaseFilters(w), stride 1, padding 1)   [N, H+1, W+1, 4 Cout], 2x2 filter
 *   y = interleavePhases(z)                               y[n, 2i+a, 2j+b, c] = z[n, i+a, j+b, (2a+b) Cout + c]
 *
 * One conv with 4 Cout output channels over the input padded by 1 (one oneDNN call each way,
 * wide enough to vectorise well even where Cout is 16), at the cost of the (H+1)(W+1) / HW
 * border positions each phase computes and drops. Both maps around the conv are linear and each
 * other's adjoint pair (`phaseFiltersGrad`, `deinterleavePhases`), registered as gradients of each
 * other, so gradients of any order flow through (as far as tfjs's conv gradients do).
 *
 * Kernels here are JS loops for the JS-array backends (cpu, onednn); onednn replaces the
 * interleaving pair with oneDNN reorders for large tensors (onednn/phase_kernels.ts). Where the
 * kernels are not registered (WebGPU, wasm, tensorflow) `phaseConvAvailable` is false and callers
 * keep the plain upsample + conv.
 */
import * as tf from "@tensorflow/tfjs";
import type { CpuBackend } from "../js_array_backend.ts";

export const PHASE_FILTERS = "GanflowPhaseFilters";
export const PHASE_FILTERS_GRAD = "GanflowPhaseFiltersGrad";
export const PHASE_INTERLEAVE = "GanflowPhaseInterleave";
export const PHASE_DEINTERLEAVE = "GanflowPhaseDeinterleave";

/** The phase conv's padding: one row and column of zeros on every side (tfjs explicit form). */
export const PHASE_PAD: tf.backend_util.ExplicitPadding = [[0, 0], [1, 1], [1, 1], [0, 0]];

/**
 * Along one axis, the 2-tap filter row r of phase a sums the 3x3 taps `PHASE_TAPS[a][r]`: tap t
 * (upsampled offset t - 1) reads input offset floor((a + t - 1) / 2), which is window row
 * that + 1 - a of the phase's window starting at input row i + a - 1.
 */
export const PHASE_TAPS: readonly (readonly (readonly number[])[])[] = [
  [[0], [1, 2]],
  [[0, 1], [2]],
];

function values(b: CpuBackend, t: tf.TensorInfo): Float32Array {
  const v = b.data.get(t.dataId).values;
  if (!(v instanceof Float32Array)) throw new Error("phase conv: float32 input expected");
  return v;
}

/**
 * Calls `row(k3, kp)` for every pair of rows of `cout` values that the phase map adds up: k3 the
 * offset of a row of w [3, 3, cin, cout], kp that of its row in wp [2, 2, cin, 4 cout] (output
 * channel (2a + b) cout + c). Phase (a, b)'s tap (r, s) sums w's taps taps[a][r] x taps[b][s].
 */
function forEachPhaseTap(
  cin: number,
  cout: number,
  taps: typeof PHASE_TAPS,
  row: (k3: number, kp: number) => void,
): void {
  const io = cin * cout;
  for (let a = 0; a < 2; a++) {
    for (let b = 0; b < 2; b++) {
      const p = 2 * a + b;
      for (let r = 0; r < 2; r++) {
        for (let s = 0; s < 2; s++) {
          for (const ky of taps[a][r]) {
            for (const kx of taps[b][s]) {
              for (let ci = 0; ci < cin; ci++) {
                row((ky * 3 + kx) * io + ci * cout, ((r * 2 + s) * cin + ci) * 4 * cout + p * cout);
              }
            }
          }
        }
      }
    }
  }
}

/**
 * wp [2, 2, cin, 4 cout] from w [3, 3, cin, cout] (see `forEachPhaseTap`). `taps` is a parameter
 * so tests can check that a wrong table is caught.
 */
export function phaseFiltersJs(
  w: Float32Array,
  cin: number,
  cout: number,
  out: Float32Array,
  taps = PHASE_TAPS,
): void {
  out.fill(0);
  forEachPhaseTap(cin, cout, taps, (k3, kp) => {
    for (let c = 0; c < cout; c++) out[kp + c] += w[k3 + c];
  });
}

/** The adjoint of `phaseFiltersJs`: dw [3, 3, cin, cout] from dwp [2, 2, cin, 4 cout]. */
export function phaseFiltersGradJs(
  dwp: Float32Array,
  cin: number,
  cout: number,
  out: Float32Array,
  taps = PHASE_TAPS,
): void {
  out.fill(0);
  forEachPhaseTap(cin, cout, taps, (k3, kp) => {
    for (let c = 0; c < cout; c++) out[k3 + c] += dwp[kp + c];
  });
}

/** y [n, 2h, 2w, c] from z [n, h+1, w+1, 4c]: y[., 2i+a, 2j+b, k] = z[., i+a, j+b, (2a+b)c + k]. */
export function interleaveJs(z: Float32Array, [n, h, w, c]: number[], y: Float32Array): void {
  const zRow = (w + 1) * 4 * c, yRow = 2 * w * c;
  for (let m = 0; m < n; m++) {
    for (let i = 0; i < h; i++) {
      for (let a = 0; a < 2; a++) {
        const zr = (m * (h + 1) + i + a) * zRow;
        const yr = (m * 2 * h + 2 * i + a) * yRow;
        for (let j = 0; j < w; j++) {
          for (let b = 0; b < 2; b++) {
            const zi = zr + (j + b) * 4 * c + (2 * a + b) * c, yi = yr + (2 * j + b) * c;
            for (let k = 0; k < c; k++) y[yi + k] = z[zi + k];
          }
        }
      }
    }
  }
}

/**
 * The zeros of `deinterleaveJs`'s output: the positions of z [n, h+1, w+1, 4c] that no output
 * pixel reads (phase a = 0 never reads row h, a = 1 never row 0; columns likewise).
 */
export function zeroUnreadPhases(dz: Float32Array, [n, h, w, c]: number[]): void {
  const px = 4 * c, zRow = (w + 1) * px;
  for (let m = 0; m < n; m++) {
    for (let a = 0; a < 2; a++) {
      for (let b = 0; b < 2; b++) {
        const ch = (2 * a + b) * c;
        const skipRow = a === 0 ? h : 0, skipCol = b === 0 ? w : 0;
        for (let r = 0; r <= h; r++) {
          const row = (m * (h + 1) + r) * zRow + ch;
          if (r === skipRow) {
            for (let s = 0; s <= w; s++) dz.fill(0, row + s * px, row + s * px + c);
          } else dz.fill(0, row + skipCol * px, row + skipCol * px + c);
        }
      }
    }
  }
}

/** The adjoint of `interleaveJs`: dz [n, h+1, w+1, 4c] from dy [n, 2h, 2w, c], zeros unread. */
export function deinterleaveJs(dy: Float32Array, [n, h, w, c]: number[], dz: Float32Array): void {
  zeroUnreadPhases(dz, [n, h, w, c]);
  const zRow = (w + 1) * 4 * c, yRow = 2 * w * c;
  for (let m = 0; m < n; m++) {
    for (let i = 0; i < h; i++) {
      for (let a = 0; a < 2; a++) {
        const zr = (m * (h + 1) + i + a) * zRow;
        const yr = (m * 2 * h + 2 * i + a) * yRow;
        for (let j = 0; j < w; j++) {
          for (let b = 0; b < 2; b++) {
            const zi = zr + (j + b) * 4 * c + (2 * a + b) * c, yi = yr + (2 * j + b) * c;
            for (let k = 0; k < c; k++) dz[zi + k] = dy[yi + k];
          }
        }
      }
    }
  }
}

/** [n, h, w, c] of the low-resolution input behind a phase tensor z [n, h+1, w+1, 4c]. */
export function phaseDims(zShape: readonly number[]): number[] {
  const [n, h1, w1, c4] = zShape;
  if (c4 % 4 !== 0) throw new Error(`phase tensor with ${c4} channels (not a multiple of 4)`);
  return [n, h1 - 1, w1 - 1, c4 / 4];
}

/**
 * The JS kernels of the four ops for one backend; `allocate` gives their output arrays (onednn
 * passes its buffer pool's).
 */
export function phaseKernelsJs(
  backendName: string,
  allocate: (n: number) => Float32Array = (n) => new Float32Array(n),
): tf.KernelConfig[] {
  const filters = (name: string, grad: boolean): tf.KernelConfig => ({
    kernelName: name,
    backendName,
    kernelFunc: ({ inputs, backend }) => {
      const b = backend as CpuBackend;
      const t = Object.values(inputs)[0] as tf.TensorInfo;
      const [, , cin, co] = t.shape;
      const cout = grad ? co / 4 : co;
      const shape = grad ? [3, 3, cin, cout] : [2, 2, cin, 4 * cout];
      const out = allocate(tf.util.sizeFromShape(shape));
      (grad ? phaseFiltersGradJs : phaseFiltersJs)(values(b, t), cin, cout, out);
      return b.makeTensorInfo(shape, "float32", out);
    },
  });
  return [
    filters(PHASE_FILTERS, false),
    filters(PHASE_FILTERS_GRAD, true),
    {
      kernelName: PHASE_INTERLEAVE,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const b = backend as CpuBackend;
        const { z } = inputs as { z: tf.TensorInfo };
        const [n, h, w, c] = phaseDims(z.shape);
        const y = allocate(n * 4 * h * w * c);
        interleaveJs(values(b, z), [n, h, w, c], y);
        return b.makeTensorInfo([n, 2 * h, 2 * w, c], "float32", y);
      },
    },
    {
      kernelName: PHASE_DEINTERLEAVE,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const b = backend as CpuBackend;
        const { dy } = inputs as { dy: tf.TensorInfo };
        const [n, h2, w2, c] = dy.shape;
        const dims = [n, h2 / 2, w2 / 2, c];
        const dz = allocate(n * (dims[1] + 1) * (dims[2] + 1) * 4 * c);
        deinterleaveJs(values(b, dy), dims, dz);
        return b.makeTensorInfo([n, dims[1] + 1, dims[2] + 1, 4 * c], "float32", dz);
      },
    },
  ];
}

let gradientsRegistered = false;

/** The four ops are linear, and pairwise each other's adjoint: each one's gradient is the other. */
function registerGradients(): void {
  if (gradientsRegistered) return;
  gradientsRegistered = true;
  const pair = (name: string, adjoint: string, input: string, adjointInput: string) =>
    tf.registerGradient({
      kernelName: name,
      gradFunc: (dy: tf.Tensor | tf.Tensor[]) => ({
        [input]: () =>
          tf.engine().runKernel(adjoint, { [adjointInput]: dy as tf.Tensor }) as tf.Tensor,
      }),
    });
  pair(PHASE_FILTERS, PHASE_FILTERS_GRAD, "w", "dwp");
  pair(PHASE_FILTERS_GRAD, PHASE_FILTERS, "dwp", "w");
  pair(PHASE_INTERLEAVE, PHASE_DEINTERLEAVE, "z", "dy");
  pair(PHASE_DEINTERLEAVE, PHASE_INTERLEAVE, "dy", "z");
}

/** Registers the JS kernels on the given JS-array backends (kept where already registered). */
export function registerPhaseConv(backendNames: string[]): void {
  registerGradients();
  for (const name of backendNames) {
    for (const k of phaseKernelsJs(name)) {
      if (!tf.getKernel(k.kernelName, name)) tf.registerKernel(k);
    }
  }
}

let enabled = true;

/**
 * Turns the phase form off (false) or back on for the layers that choose it; returns the previous
 * setting. For benchmarks and tests that compare it with the plain upsample + conv.
 */
export function setPhaseConvs(on: boolean): boolean {
  const previous = enabled;
  enabled = on;
  return previous;
}

/** Whether the current backend runs phase convs (its kernels are registered, not turned off). */
export function phaseConvAvailable(): boolean {
  if (!enabled) return false;
  const b = tf.getBackend();
  return [PHASE_FILTERS, PHASE_FILTERS_GRAD, PHASE_INTERLEAVE, PHASE_DEINTERLEAVE].every((k) =>
    tf.getKernel(k, b) !== undefined
  );
}

/** Whether an upsample + conv with filter `w` and `stride` has a phase form (3x3, stride 1). */
export function phaseConvApplies(w: tf.Tensor, stride = 1): boolean {
  return w.shape[0] === 3 && w.shape[1] === 3 && stride === 1 && w.dtype === "float32" &&
    phaseConvAvailable();
}

/** The 2x2 phase filters [2, 2, cin, 4 cout] of a 3x3 filter (differentiable). */
export function phaseFilters(w: tf.Tensor4D): tf.Tensor4D {
  return tf.engine().runKernel(PHASE_FILTERS, { w }) as tf.Tensor4D;
}

/** The 3x3 filter gradient from the phase filters' gradient (the adjoint of `phaseFilters`). */
export function phaseFiltersGrad(dwp: tf.Tensor): tf.Tensor4D {
  return tf.engine().runKernel(PHASE_FILTERS_GRAD, { dwp }) as tf.Tensor4D;
}

/** The upsampled output [n, 2h, 2w, c] from the phase conv's z [n, h+1, w+1, 4c]. */
export function interleavePhases(z: tf.Tensor): tf.Tensor4D {
  return tf.engine().runKernel(PHASE_INTERLEAVE, { z }) as tf.Tensor4D;
}

/** The adjoint of `interleavePhases`: dz [n, h+1, w+1, 4c] from dy [n, 2h, 2w, c]. */
export function deinterleavePhases(dy: tf.Tensor): tf.Tensor4D {
  return tf.engine().runKernel(PHASE_DEINTERLEAVE, { dy }) as tf.Tensor4D;
}

/**
 * conv2d(upsample2x(x), w, 1, "same") + bias, then a leaky ReLU of slope `slope` (none:
 * linear), in phase form; differentiable like the tfjs ops it is made of (second order
 * included). Outside a gradient tape conv, bias and activation run as one fused kernel.
 * Callers check `phaseConvApplies` first.
 */
export function phaseUpsampleConv(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  o: { bias?: tf.Tensor; slope?: number } = {},
): tf.Tensor4D {
  return tf.tidy(() => {
    const z = tf.fused.conv2d({
      x,
      filter: phaseFilters(w),
      strides: 1,
      pad: PHASE_PAD,
      bias: o.bias ? tf.tile(o.bias, [4]) : undefined,
      activation: o.slope === undefined ? "linear" : "leakyrelu",
      leakyreluAlpha: o.slope,
    });
    return interleavePhases(z);
  });
}
