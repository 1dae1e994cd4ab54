/**
 * tfjs's Concat kernel as one oneDNN concat primitive for large float32 outputs. tfjs's cpu
 * kernel copies row by row with a typed-array `set` per input and row: along channels of NHWC
 * activations (Inception's branch outputs) that is one small copy per pixel and branch.
 */
import * as tf from "@tensorflow/tfjs";
import type { CpuBackend } from "../js_array_backend.ts";
import { check, DNNL, type OneDnn, u8 } from "./ffi.ts";
import { memoryDesc } from "./memory_desc.ts";
import { createPrimitive, execute, type Primitive } from "./primitive.ts";
import { MIN_ELEMENTS } from "./eltwise_primitives.ts";
import { alloc } from "./buffer_pool.ts";

/** DNNL_ARG_MULTIPLE_SRC: the first of the concat's source arguments. */
const ARG_MULTIPLE_SRC = 1024;

const cache = new Map<string, Primitive>();

/** Row-major [rows, cols_i] pieces joined along columns into [rows, sum cols_i]. */
function concatPrimitive(d: OneDnn, rows: number, cols: number[]): Primitive {
  const key = `${rows}|${cols}`;
  let p = cache.get(key);
  if (!p) {
    const total = cols.reduce((a, b) => a + b, 0);
    const srcs = new Uint8Array(DNNL.mdSize * cols.length);
    cols.forEach((c, i) => srcs.set(memoryDesc(d, [rows, c], [c, 1]), i * DNNL.mdSize));
    const pdOut = new BigUint64Array(1);
    check(
      d.lib.dnnl_concat_primitive_desc_create(
        u8(pdOut),
        memoryDesc(d, [rows, total], [total, 1]),
        cols.length,
        1,
        srcs,
        null,
        d.engine,
      ),
      "concat_primitive_desc_create",
    );
    const args = [...cols.map((_, i) => ARG_MULTIPLE_SRC + i), DNNL.argDst];
    p = createPrimitive(d, null, args, null, pdOut);
    cache.set(key, p);
  }
  return p;
}

export function concatKernel(
  d: OneDnn,
  fallback: (name: string) => tf.KernelFunc,
): tf.KernelConfig {
  return {
    kernelName: "Concat",
    backendName: "onednn",
    kernelFunc: (args) => {
      const backend = args.backend as CpuBackend;
      const inputs = (args.inputs as unknown as tf.TensorInfo[]).filter((t) =>
        t.shape.every((s) => s > 0)
      );
      // Fewer than two non-empty inputs (axis parsing needs one): tfjs's kernel.
      if (inputs.length < 2) return fallback("Concat")(args);
      const rank = inputs[0].shape.length;
      const axis =
        tf.util.parseAxisParam((args.attrs as { axis: number }).axis, inputs[0].shape)[0];
      const total = inputs.reduce((s, t) => s + tf.util.sizeFromShape(t.shape), 0);
      if (
        total < MIN_ELEMENTS || inputs.some((t) => t.dtype !== "float32") ||
        inputs.some((t) => t.shape.length !== rank)
      ) {
        return fallback("Concat")(args);
      }
      // Any concat of row-major tensors is one along columns of [outer, inner_i] matrices.
      const rows = tf.util.sizeFromShape(inputs[0].shape.slice(0, axis));
      const cols = inputs.map((t) => tf.util.sizeFromShape(t.shape.slice(axis)));
      const outShape = [...inputs[0].shape];
      outShape[axis] = inputs.reduce((s, t) => s + t.shape[axis], 0);
      const out = alloc(total);
      execute(d, concatPrimitive(d, rows, cols), [
        ...inputs.map((t, i) =>
          [ARG_MULTIPLE_SRC + i, backend.data.get(t.dataId).values as Float32Array] as [
            number,
            Float32Array,
          ]
        ),
        [DNNL.argDst, out],
      ]);
      return backend.makeTensorInfo(outShape, "float32", out);
    },
  };
}
