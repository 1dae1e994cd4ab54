/**
 * tfjs kernels backed by oneDNN: Conv2D and both of its gradients, the depthwise versions
 * (grouped convolutions) and BatchMatMul. They read and write the cpu backend's Float32Arrays
 * in place (NHWC activations, HWIO filters described to oneDNN by strides: no reorders).
 * Primitives are cached by geometry, as creating one costs far more than running it.
 */
import * as tf from "@tensorflow/tfjs";
import {
  check,
  createPrimitive,
  dims,
  DNNL,
  execute,
  memoryDesc,
  type OneDnn,
  type Primitive,
} from "./ffi.ts";

type ConvInfo = tf.backend_util.Conv2DInfo;
type CpuBackend = tf.KernelBackend & {
  data: { get(id: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
};

type ConvKind = "fwd" | "bwd-data" | "bwd-weights";

const cache = new Map<string, Primitive & { pd: Deno.PointerValue }>();

function nhwc(n: number, h: number, w: number, c: number): [number[], number[]] {
  return [[n, c, h, w], [h * w * c, 1, w * c, c]];
}

/** Filter descriptor: HWIO for ordinary convs, [KH, KW, C, M] as 5-D groups for depthwise. */
function filterDesc(d: OneDnn, ci: ConvInfo, depthwise: boolean): Uint8Array<ArrayBuffer> {
  const { filterHeight: kh, filterWidth: kw, inChannels: ic, outChannels: oc } = ci;
  if (!depthwise) return memoryDesc(d, [oc, ic, kh, kw], [1, oc, kw * ic * oc, ic * oc]);
  const m = oc / ic;
  return memoryDesc(d, [ic, m, 1, kh, kw], [m, 1, 1, kw * ic * m, ic * m]);
}

function convPrimitive(d: OneDnn, ci: ConvInfo, depthwise: boolean, kind: ConvKind) {
  const key = [
    kind,
    depthwise,
    ci.batchSize,
    ci.inHeight,
    ci.inWidth,
    ci.inChannels,
    ci.outHeight,
    ci.outWidth,
    ci.outChannels,
    ci.filterHeight,
    ci.filterWidth,
    ci.strideHeight,
    ci.strideWidth,
    ci.dilationHeight,
    ci.dilationWidth,
    ci.padInfo.top,
    ci.padInfo.left,
    ci.padInfo.bottom,
    ci.padInfo.right,
  ].join(",");
  const hit = cache.get(key);
  if (hit) return hit;
  const src = memoryDesc(d, ...nhwc(ci.batchSize, ci.inHeight, ci.inWidth, ci.inChannels));
  const dst = memoryDesc(d, ...nhwc(ci.batchSize, ci.outHeight, ci.outWidth, ci.outChannels));
  const wei = filterDesc(d, ci, depthwise);
  const strides = dims([ci.strideHeight, ci.strideWidth]);
  // oneDNN counts dilation from 0 (= dense), tfjs from 1.
  const dilates = dims([ci.dilationHeight - 1, ci.dilationWidth - 1]);
  const padL = dims([ci.padInfo.top, ci.padInfo.left]);
  const padR = dims([ci.padInfo.bottom, ci.padInfo.right]);
  const fwdDesc = new Uint8Array(DNNL.convDescSize);
  check(
    d.lib.dnnl_dilated_convolution_forward_desc_init(
      fwdDesc,
      DNNL.forwardTraining,
      DNNL.convolutionDirect,
      src,
      wei,
      null as unknown as Uint8Array<ArrayBuffer>,
      dst,
      strides,
      dilates,
      padL,
      padR,
    ),
    "convolution_forward_desc_init",
  );
  let p;
  if (kind === "fwd") {
    p = createPrimitive(d, fwdDesc, [[DNNL.argSrc, src], [DNNL.argWeights, wei], [
      DNNL.argDst,
      dst,
    ]]);
  } else {
    const hint = convPrimitive(d, ci, depthwise, "fwd").pd;
    const desc = new Uint8Array(DNNL.convDescSize);
    if (kind === "bwd-data") {
      check(
        d.lib.dnnl_dilated_convolution_backward_data_desc_init(
          desc,
          DNNL.convolutionDirect,
          src,
          wei,
          dst,
          strides,
          dilates,
          padL,
          padR,
        ),
        "convolution_backward_data_desc_init",
      );
      p = createPrimitive(d, desc, [[DNNL.argDiffDst, dst], [DNNL.argWeights, wei], [
        DNNL.argDiffSrc,
        src,
      ]], hint);
    } else {
      check(
        d.lib.dnnl_dilated_convolution_backward_weights_desc_init(
          desc,
          DNNL.convolutionDirect,
          src,
          wei,
          null as unknown as Uint8Array<ArrayBuffer>,
          dst,
          strides,
          dilates,
          padL,
          padR,
        ),
        "convolution_backward_weights_desc_init",
      );
      p = createPrimitive(d, desc, [[DNNL.argSrc, src], [DNNL.argDiffDst, dst], [
        DNNL.argDiffWeights,
        wei,
      ]], hint);
    }
  }
  cache.set(key, p);
  return p;
}

function f32(backend: CpuBackend, t: tf.TensorInfo): Float32Array {
  return backend.data.get(t.dataId).values as Float32Array;
}

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function usable(...ts: tf.TensorInfo[]): boolean {
  return ts.every((t) => t.dtype === "float32");
}

interface ConvAttrs {
  strides: number | [number, number];
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dataFormat?: "NHWC" | "NCHW";
  dilations?: number | [number, number];
  dimRoundingMode?: "floor" | "round" | "ceil";
  inputShape?: [number, number, number, number];
  filterShape?: [number, number, number, number];
}

export function makeKernels(
  d: OneDnn,
  fallback: (name: string) => tf.KernelFunc,
): tf.KernelConfig[] {
  const conv = (name: string, depthwise: boolean, kind: ConvKind): tf.KernelConfig => ({
    kernelName: name,
    backendName: "onednn",
    kernelFunc: (args) => {
      const backend = args.backend as CpuBackend;
      const attrs = args.attrs as unknown as ConvAttrs;
      const ins = args.inputs as Record<string, tf.TensorInfo>;
      const tensors = Object.values(ins);
      if ((attrs.dataFormat ?? "NHWC") !== "NHWC" || !usable(...tensors)) {
        return fallback(name)(args);
      }
      const dil = kind === "fwd" || depthwise ? attrs.dilations ?? 1 : 1;
      let ci: ConvInfo, out: Float32Array, outShape: number[], buffers: [number, Float32Array][];
      if (kind === "fwd") {
        ci = tf.backend_util.computeConv2DInfo(
          ins.x.shape as never,
          ins.filter.shape as never,
          attrs.strides,
          dil,
          attrs.pad,
          attrs.dimRoundingMode,
          depthwise,
        );
        outShape = ci.outShape;
        out = new Float32Array(size(outShape));
        buffers = [
          [DNNL.argSrc, f32(backend, ins.x)],
          [DNNL.argWeights, f32(backend, ins.filter)],
          [
            DNNL.argDst,
            out,
          ],
        ];
      } else if (kind === "bwd-data") {
        ci = tf.backend_util.computeConv2DInfo(
          attrs.inputShape!,
          ins.filter.shape as never,
          attrs.strides,
          dil,
          attrs.pad,
          attrs.dimRoundingMode,
          depthwise,
        );
        outShape = [...attrs.inputShape!];
        out = new Float32Array(size(outShape));
        buffers = [[DNNL.argDiffDst, f32(backend, ins.dy)], [
          DNNL.argWeights,
          f32(backend, ins.filter),
        ], [
          DNNL.argDiffSrc,
          out,
        ]];
      } else {
        ci = tf.backend_util.computeConv2DInfo(
          ins.x.shape as never,
          attrs.filterShape!,
          attrs.strides,
          dil,
          attrs.pad,
          attrs.dimRoundingMode,
          depthwise,
        );
        outShape = [...attrs.filterShape!];
        out = new Float32Array(size(outShape));
        buffers = [[DNNL.argSrc, f32(backend, ins.x)], [DNNL.argDiffDst, f32(backend, ins.dy)], [
          DNNL.argDiffWeights,
          out,
        ]];
      }
      if (size(outShape) > 0) execute(d, convPrimitive(d, ci, depthwise, kind), buffers);
      return backend.makeTensorInfo(outShape, "float32", out);
    },
  });

  const matmul: tf.KernelConfig = {
    kernelName: "BatchMatMul",
    backendName: "onednn",
    kernelFunc: (args) => {
      const backend = args.backend as CpuBackend;
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = args.attrs as unknown as {
        transposeA: boolean;
        transposeB: boolean;
      };
      if (!usable(a, b) || a.shape.length !== b.shape.length || a.shape.length > 3) {
        return fallback("BatchMatMul")(args);
      }
      const as = a.shape.length === 2 ? [1, ...a.shape] : [...a.shape];
      const bs = b.shape.length === 2 ? [1, ...b.shape] : [...b.shape];
      if (as[0] !== bs[0]) return fallback("BatchMatMul")(args);
      const [batch, m, k] = [as[0], transposeA ? as[2] : as[1], transposeA ? as[1] : as[2]];
      const n = transposeB ? bs[1] : bs[2];
      const key = ["mm", batch, m, k, n, transposeA, transposeB].join(",");
      let p = cache.get(key);
      if (!p) {
        const srcMd = memoryDesc(d, [batch, m, k], transposeA ? [m * k, 1, m] : [m * k, k, 1]);
        const weiMd = memoryDesc(d, [batch, k, n], transposeB ? [k * n, 1, k] : [k * n, n, 1]);
        const dstMd = memoryDesc(d, [batch, m, n], [m * n, n, 1]);
        const desc = new Uint8Array(DNNL.matmulDescSize);
        check(
          d.lib.dnnl_matmul_desc_init(
            desc,
            srcMd,
            weiMd,
            null as unknown as Uint8Array<ArrayBuffer>,
            dstMd,
          ),
          "matmul_desc_init",
        );
        p = createPrimitive(d, desc, [[DNNL.argSrc, srcMd], [DNNL.argWeights, weiMd], [
          DNNL.argDst,
          dstMd,
        ]]);
        cache.set(key, p);
      }
      const out = new Float32Array(batch * m * n);
      if (out.length > 0 && k > 0) {
        execute(d, p, [[DNNL.argSrc, f32(backend, a)], [DNNL.argWeights, f32(backend, b)], [
          DNNL.argDst,
          out,
        ]]);
      }
      const outShape = a.shape.length === 2 ? [m, n] : [batch, m, n];
      return backend.makeTensorInfo(outShape, "float32", out);
    },
  };

  return [
    conv("Conv2D", false, "fwd"),
    conv("Conv2DBackpropInput", false, "bwd-data"),
    conv("Conv2DBackpropFilter", false, "bwd-weights"),
    conv("DepthwiseConv2dNative", true, "fwd"),
    conv("DepthwiseConv2dNativeBackpropInput", true, "bwd-data"),
    conv("DepthwiseConv2dNativeBackpropFilter", true, "bwd-weights"),
    matmul,
  ];
}

/** How many oneDNN primitives have been built (tests use it to see the kernels really ran). */
export function primitiveCount(): number {
  return cache.size;
}
