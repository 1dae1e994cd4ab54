/**
 * The JS-array backends (tfjs cpu, and onednn built on it) as our kernels see them: a tensor's
 * values are a typed array kept in `data`, and a kernel returns a new tensor by handing one over.
 */
import type * as tf from "@tensorflow/tfjs";

export type CpuBackend = tf.KernelBackend & {
  data: { get(id: object): { values: unknown } };
  makeTensorInfo(
    shape: number[],
    dtype: tf.DataType,
    values: Float32Array | Int32Array | Uint8Array,
  ): tf.TensorInfo;
};
