/**
 * tfjs's MaxPool and AvgPool forward kernels as oneDNN pooling primitives (vectorised over
 * channels, multi-threaded), where tfjs's cpu kernel walks every window tap in scalar JS. The
 * average excludes the padding, as TF (and pytorch-fid's count_include_pad=False) do. Used by
 * ProGAN's box downsampling and Inception's pools. Gradients stay tfjs's.
 */
import * as tf from "@tensorflow/tfjs";
import type { CpuBackend } from "../js_array_backend.ts";
import { check, DNNL, type OneDnn } from "./ffi.ts";
import { dims, nhwcDesc } from "./memory_desc.ts";
import { createPrimitive, execute, type Primitive } from "./primitive.ts";
import { alloc } from "./buffer_pool.ts";

/** dnnl_alg_kind_t values (dnnl_types.h). */
const POOLING_MAX = 0x1ff;
const POOLING_AVG_EXCLUDE_PADDING = 0x3ff;
/** sizeof(dnnl_pooling_desc_t) is ~3.2 kB in oneDNN 2.x; oneDNN writes only its own size. */
const POOLING_DESC_SIZE = 4096;

interface PoolAttrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: "floor" | "round" | "ceil";
}

const cache = new Map<string, Primitive>();

function poolPrimitive(d: OneDnn, alg: number, info: tf.backend_util.Conv2DInfo): Primitive {
  const { batchSize: n, inHeight, inWidth, inChannels: c, outHeight, outWidth } = info;
  const { top, bottom, left, right } = info.padInfo;
  const geometry = [
    n,
    inHeight,
    inWidth,
    c,
    outHeight,
    outWidth,
    info.strideHeight,
    info.strideWidth,
    info.filterHeight,
    info.filterWidth,
    top,
    bottom,
    left,
    right,
  ];
  const key = `${alg}|${geometry}`;
  let p = cache.get(key);
  if (!p) {
    const desc = new Uint8Array(POOLING_DESC_SIZE);
    check(
      d.lib.dnnl_pooling_forward_desc_init(
        desc,
        DNNL.forwardInference, // no workspace: nothing here runs max pooling's backward
        alg,
        nhwcDesc(d, [n, inHeight, inWidth, c]),
        nhwcDesc(d, [n, outHeight, outWidth, c]),
        dims([info.strideHeight, info.strideWidth]),
        dims([info.filterHeight, info.filterWidth]),
        dims([top, left]),
        dims([bottom, right]),
      ),
      "pooling_forward_desc_init",
    );
    p = createPrimitive(d, desc, [DNNL.argSrc, DNNL.argDst]);
    cache.set(key, p);
  }
  return p;
}

export function makePoolingKernels(
  d: OneDnn,
  fallback: (name: string) => tf.KernelFunc,
): tf.KernelConfig[] {
  const kernel = (name: "MaxPool" | "AvgPool", alg: number): tf.KernelConfig => ({
    kernelName: name,
    backendName: "onednn",
    kernelFunc: (args) => {
      const backend = args.backend as CpuBackend;
      const { x } = args.inputs as { x: tf.TensorInfo };
      const a = args.attrs as unknown as PoolAttrs;
      if (x.dtype !== "float32" || x.shape.length !== 4) return fallback(name)(args);
      const info = tf.backend_util.computePool2DInfo(
        x.shape as [number, number, number, number],
        a.filterSize,
        a.strides,
        1,
        a.pad,
        a.dimRoundingMode,
      );
      // A window wholly in the padding (possible with explicit pads) has no pixel to average.
      const { top, bottom, left, right } = info.padInfo;
      const count = info.outShape.reduce((s, v) => s * v, 1);
      if (
        top >= info.filterHeight || bottom >= info.filterHeight || left >= info.filterWidth ||
        right >= info.filterWidth || count === 0
      ) {
        return fallback(name)(args);
      }
      const out = alloc(count);
      const src = backend.data.get(x.dataId).values as Float32Array;
      execute(d, poolPrimitive(d, alg, info), [[DNNL.argSrc, src], [DNNL.argDst, out]]);
      return backend.makeTensorInfo(info.outShape, "float32", out);
    },
  });
  return [kernel("MaxPool", POOLING_MAX), kernel("AvgPool", POOLING_AVG_EXCLUDE_PADDING)];
}
