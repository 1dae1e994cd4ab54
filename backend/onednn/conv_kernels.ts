/**
 * tfjs kernels backed by oneDNN: Conv2D and both of its gradients, the depthwise versions
 * (grouped convolutions) and BatchMatMul. They read and write the cpu backend's Float32Arrays
 * in place: NHWC activations described to oneDNN by strides (no reorders of activations). The
 * filters are reordered (a small copy per call) into the blocked layout oneDNN picks, which
 * gets its direct AVX2/AVX-512 kernels (brgconv / jit) instead of the much slower gemm-based
 * convolution it uses for plain HWIO filters. Primitives are cached by geometry, as creating
 * one costs far more than running it.
 *
 * While bf16 is on (bf16.ts; backend/precision.ts), convolutions (forward and input gradient) and
 * matmuls run oneDNN's bf16 primitives: inputs (activations, gradients, weights) as bf16 copies,
 * accumulation and outputs in float32; weight gradients stay float32 (bf16.ts says why).
 */
import * as tf from "@tensorflow/tfjs";
import type { CpuBackend } from "../js_array_backend.ts";
import { check, DNNL, type OneDnn } from "./ffi.ts";
import { descBytes, dims, memoryDesc, memoryDescByTag, nhwcDesc, sameDesc } from "./memory_desc.ts";
import {
  createPrimitive,
  execute,
  implName,
  type Primitive,
  reluPostOp,
  reorderPrimitive,
} from "./primitive.ts";
import { alloc } from "./buffer_pool.ts";
import { bf16Enabled, bf16Scratch } from "./bf16.ts";

type ConvInfo = tf.backend_util.Conv2DInfo;
type ConvKind = "fwd" | "bwd-data" | "bwd-weights";

/**
 * A convolution ready to run: the primitive (activations in tfjs's NHWC, weights in the blocked
 * layout oneDNN's fast direct kernels want) and, when that layout differs from tfjs's HWIO, a
 * reorder of the weights (fwd, bwd-data) or of the weight gradient (bwd-weights) plus its buffer.
 */
interface ConvPlan {
  main: Primitive;
  kind: ConvKind;
  /** Inputs in bf16 (fwd, bwd-data): the activation or gradient as a copy, weights reordered. */
  bf16: boolean;
  reorder: Primitive | null;
  /** Blocked weights: float32, or bf16 (fwd and bwd-data of a bf16 plan). */
  blocked: Float32Array | Uint16Array | null;
  /**
   * The tfjs data id whose filter `blocked` holds (fwd, bwd-data). tfjs never changes a
   * tensor's data in place, so the same id means the same values: a filter used for several
   * calls (real and fake batches, forward and input gradient) is reordered once.
   */
  blockedFrom: object | null;
}

const cache = new Map<string, ConvPlan>();
const matmulCache = new Map<string, Primitive>();

/** Filter logical dims and tfjs strides: HWIO, or [KH, KW, C, M] as 5-D groups for depthwise. */
function filterLayout(ci: ConvInfo, depthwise: boolean): [number[], number[]] {
  const { filterHeight: kh, filterWidth: kw, inChannels: ic, outChannels: oc } = ci;
  if (!depthwise) return [[oc, ic, kh, kw], [1, oc, kw * ic * oc, ic * oc]];
  const m = oc / ic;
  return [[ic, m, 1, kh, kw], [m, 1, 1, kw * ic * m, ic * m]];
}

/**
 * What a forward conv does after the convolution, in the same pass (tfjs's FusedConv2D): add a
 * per-channel bias, then a (leaky) ReLU with slope `alpha` below zero (null: no activation).
 */
interface Epilogue {
  bias: boolean;
  alpha: number | null;
}

const PLAIN: Epilogue = { bias: false, alpha: null };

function convPlan(
  d: OneDnn,
  ci: ConvInfo,
  depthwise: boolean,
  kind: ConvKind,
  epilogue: Epilogue = PLAIN,
  bf16 = false,
): ConvPlan {
  const key = [
    kind,
    bf16,
    depthwise,
    epilogue.bias,
    epilogue.alpha,
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
  if (bf16 && kind === "bwd-weights") throw new Error("weight gradients stay float32 (bf16.ts)");
  // bf16: what the primitive reads is bf16, what it writes float32.
  const low = bf16 ? DNNL.bf16 : DNNL.f32;
  const src = nhwcDesc(
    d,
    [ci.batchSize, ci.inHeight, ci.inWidth, ci.inChannels],
    kind === "bwd-data" ? DNNL.f32 : low,
  );
  const dst = nhwcDesc(
    d,
    [ci.batchSize, ci.outHeight, ci.outWidth, ci.outChannels],
    kind === "fwd" ? DNNL.f32 : low,
  );
  const [wDims, wStrides] = filterLayout(ci, depthwise);
  const weiPlain = memoryDesc(d, wDims, wStrides);
  const wei = memoryDescByTag(d, wDims, DNNL.formatAny, low);
  const strides = dims([ci.strideHeight, ci.strideWidth]);
  // oneDNN counts dilation from 0 (= dense), tfjs from 1.
  const dilates = dims([ci.dilationHeight - 1, ci.dilationWidth - 1]);
  const padL = dims([ci.padInfo.top, ci.padInfo.left]);
  const padR = dims([ci.padInfo.bottom, ci.padInfo.right]);
  const noBias = null as unknown as Uint8Array<ArrayBuffer>;
  const desc = new Uint8Array(DNNL.convDescSize);
  let main: Primitive;
  if (kind === "fwd") {
    const bias = epilogue.bias ? memoryDesc(d, [ci.outChannels], [1]) : noBias;
    check(
      d.lib.dnnl_dilated_convolution_forward_desc_init(
        desc,
        epilogue === PLAIN ? DNNL.forwardTraining : DNNL.forwardInference,
        DNNL.convolutionDirect,
        src,
        wei,
        bias,
        dst,
        strides,
        dilates,
        padL,
        padR,
      ),
      "convolution_forward_desc_init",
    );
    const args: number[] = [DNNL.argSrc, DNNL.argWeights, DNNL.argDst];
    if (epilogue.bias) args.push(DNNL.argBias);
    const attr = epilogue.alpha === null ? null : reluPostOp(d, epilogue.alpha);
    main = createPrimitive(d, desc, args, null, undefined, attr);
  } else {
    const hint = convPlan(d, ci, depthwise, "fwd", PLAIN, bf16).main.pd;
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
      main = createPrimitive(d, desc, [DNNL.argDiffDst, DNNL.argWeights, DNNL.argDiffSrc], hint);
    } else {
      check(
        d.lib.dnnl_dilated_convolution_backward_weights_desc_init(
          desc,
          DNNL.convolutionDirect,
          src,
          wei,
          noBias,
          dst,
          strides,
          dilates,
          padL,
          padR,
        ),
        "convolution_backward_weights_desc_init",
      );
      main = createPrimitive(d, desc, [DNNL.argSrc, DNNL.argDiffDst, DNNL.argDiffWeights], hint);
    }
  }
  const weiArg = kind === "bwd-weights" ? DNNL.argDiffWeights : DNNL.argWeights;
  const chosen = main.descs.get(weiArg)!;
  let reorder: Primitive | null = null, blocked: Float32Array | Uint16Array | null = null;
  if (!sameDesc(d, chosen, weiPlain)) {
    reorder = kind === "bwd-weights"
      ? reorderPrimitive(d, chosen, weiPlain)
      : reorderPrimitive(d, weiPlain, chosen);
    blocked = bf16
      ? new Uint16Array(descBytes(d, chosen) / 2)
      : new Float32Array(descBytes(d, chosen) / 4);
  }
  const plan = { main, kind, bf16, reorder, blocked, blockedFrom: null };
  cache.set(key, plan);
  return plan;
}

/** A kernel input: its float32 values and its tfjs data id (for the weights' reorder). */
interface Input {
  values: Float32Array;
  id: object;
}

type Buffer = Float32Array | Uint16Array;

/**
 * Runs a conv plan on tfjs buffers: fwd (x, filter) -> y, bwd-data (dy, filter) -> dx,
 * bwd-weights (x, dy) -> dfilter; filters in tfjs's HWIO layout. A bf16 plan (fwd, bwd-data)
 * reads a bf16 copy of x or dy (bf16.ts) and bf16 weights (the plan's reorder converts them).
 */
function runConv(
  d: OneDnn,
  p: ConvPlan,
  in0: Input,
  in1: Input,
  out: Float32Array,
  bias: Float32Array | null = null,
) {
  const { main, reorder, blocked } = p;
  const act = (t: Input): Buffer => p.bf16 ? bf16Scratch(d, t.values, 0) : t.values;
  if (p.kind === "bwd-weights") {
    execute(d, main, [[DNNL.argSrc, in0.values], [DNNL.argDiffDst, in1.values], [
      DNNL.argDiffWeights,
      blocked ?? out,
    ]]);
    if (reorder) execute(d, reorder, [[DNNL.argFrom, blocked!], [DNNL.argTo, out]]);
    return;
  }
  if (reorder && p.blockedFrom !== in1.id) {
    execute(d, reorder, [[DNNL.argFrom, in1.values], [DNNL.argTo, blocked!]]);
    p.blockedFrom = in1.id;
  }
  const wArg: [number, Buffer] = [DNNL.argWeights, blocked ?? in1.values];
  if (p.kind === "fwd") {
    const args: [number, Buffer][] = [[DNNL.argSrc, act(in0)], wArg, [DNNL.argDst, out]];
    if (bias) args.push([DNNL.argBias, bias]);
    execute(d, main, args);
  } else execute(d, main, [[DNNL.argDiffDst, act(in0)], wArg, [DNNL.argDiffSrc, out]]);
}

function f32(backend: CpuBackend, t: tf.TensorInfo): Float32Array {
  return backend.data.get(t.dataId).values as Float32Array;
}

function input(backend: CpuBackend, t: tf.TensorInfo): Input {
  return { values: f32(backend, t), id: t.dataId };
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
      const xShape = kind === "bwd-data" ? attrs.inputShape! : ins.x.shape;
      const wShape = kind === "bwd-weights" ? attrs.filterShape! : ins.filter.shape;
      const ci = tf.backend_util.computeConv2DInfo(
        xShape as never,
        wShape as never,
        attrs.strides,
        dil,
        attrs.pad,
        attrs.dimRoundingMode,
        depthwise,
      );
      const outShape = kind === "fwd" ? ci.outShape : kind === "bwd-data" ? [...xShape] : [
        ...wShape,
      ];
      const [in0, in1] = kind === "fwd"
        ? [ins.x, ins.filter]
        : kind === "bwd-data"
        ? [ins.dy, ins.filter]
        : [ins.x, ins.dy];
      const run = size(outShape) > 0 && size(in0.shape) > 0 && size(in1.shape) > 0;
      // Every output element is written by oneDNN; zeros where there is nothing to compute.
      const out = alloc(size(outShape), !run);
      if (run) {
        // Weight gradients stay float32 (bf16.ts says why).
        const low = bf16Enabled() && kind !== "bwd-weights";
        const plan = convPlan(d, ci, depthwise, kind, PLAIN, low);
        runConv(d, plan, input(backend, in0), input(backend, in1), out);
      }
      return backend.makeTensorInfo(outShape, "float32", out);
    },
  });

  /**
   * tfjs's FusedConv2D / FusedDepthwiseConv2D (what `tf.fused.conv2d` runs outside gradient
   * tapes): conv + per-channel bias + linear, ReLU or leaky ReLU in one oneDNN primitive, so the
   * activation is written once instead of three times. Other activations and biases of other
   * shapes go to the cpu kernel.
   */
  const fused = (name: string, depthwise: boolean): tf.KernelConfig => ({
    kernelName: name,
    backendName: "onednn",
    kernelFunc: (args) => {
      const backend = args.backend as CpuBackend;
      const attrs = args.attrs as unknown as ConvAttrs & {
        activation: string;
        leakyreluAlpha?: number;
      };
      const { x, filter, bias } = args.inputs as Record<string, tf.TensorInfo | undefined>;
      const alpha = attrs.activation === "linear"
        ? null
        : attrs.activation === "relu"
        ? 0
        : attrs.activation === "leakyrelu"
        ? attrs.leakyreluAlpha ?? 0.2
        : undefined;
      const ci = tf.backend_util.computeConv2DInfo(
        x!.shape as never,
        filter!.shape as never,
        attrs.strides,
        attrs.dilations ?? 1,
        attrs.pad,
        attrs.dimRoundingMode,
        depthwise,
      );
      const tensors = bias ? [x!, filter!, bias] : [x!, filter!];
      if (
        alpha === undefined || (attrs.dataFormat ?? "NHWC") !== "NHWC" || !usable(...tensors) ||
        (bias && size(bias.shape) !== ci.outChannels) || tensors.some((t) => size(t.shape) === 0)
      ) {
        return fallback(name)(args);
      }
      const epilogue = { bias: bias !== undefined, alpha };
      const plan = convPlan(d, ci, depthwise, "fwd", epilogue, bf16Enabled());
      const out = alloc(size(ci.outShape), false);
      const b = bias ? f32(backend, bias) : null;
      runConv(d, plan, input(backend, x!), input(backend, filter!), out, b);
      return backend.makeTensorInfo(ci.outShape, "float32", out);
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
      const bf16 = bf16Enabled();
      const key = ["mm", bf16, batch, m, k, n, transposeA, transposeB].join(",");
      let p = matmulCache.get(key);
      if (!p) {
        // bf16: both operands as bf16 copies (bf16.ts), the product accumulated in float32.
        const dt = bf16 ? DNNL.bf16 : DNNL.f32;
        const srcMd = memoryDesc(
          d,
          [batch, m, k],
          transposeA ? [m * k, 1, m] : [m * k, k, 1],
          dt,
        );
        const weiMd = memoryDesc(
          d,
          [batch, k, n],
          transposeB ? [k * n, 1, k] : [k * n, n, 1],
          dt,
        );
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
        p = createPrimitive(d, desc, [DNNL.argSrc, DNNL.argWeights, DNNL.argDst]);
        matmulCache.set(key, p);
      }
      const out = alloc(batch * m * n, k === 0);
      if (out.length > 0 && k > 0) {
        const operand = (t: tf.TensorInfo, slot: 0 | 1): Buffer =>
          bf16 ? bf16Scratch(d, f32(backend, t), slot) : f32(backend, t);
        execute(d, p, [[DNNL.argSrc, operand(a, 0)], [DNNL.argWeights, operand(b, 1)], [
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
    fused("FusedConv2D", false),
    fused("FusedDepthwiseConv2D", true),
    matmul,
  ];
}

/** How many oneDNN primitives have been built (tests use it to see the kernels really ran). */
export function primitiveCount(): number {
  return cache.size + matmulCache.size;
}

/**
 * The implementation each cached primitive uses (for the benchmark's report and tests): the
 * cache key (kind, bf16, geometry) then oneDNN's name for it.
 */
export function primitiveImpls(d: OneDnn): string[] {
  return [
    ...[...cache].map(([k, p]) => `${k}: ${implName(d, p.main.pd)}${p.reorder ? " +reorder" : ""}`),
    ...[...matmulCache].map(([k, p]) => `${k}: ${implName(d, p.pd)}`),
  ];
}
