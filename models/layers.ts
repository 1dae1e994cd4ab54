/**
 * Functional layers over a `Params` store (nanoGPT style): each call names its weights, so the
 * same code builds and reuses them. NHWC activations, HWIO conv filters.
 */
import * as tf from "@tensorflow/tfjs";
import type { Params } from "../nn/params.ts";
import { leanConv } from "./lean_conv.ts";
import { upsample2x, upsample2xGrad } from "./upsample.ts";
import { leakyGradFromOutput } from "../backend/ops/leaky_relu_grad.ts";
import { phaseConvAvailable, phaseUpsampleConv } from "../backend/ops/phase_conv.ts";

/** He-normal init for a conv/dense with `fanIn` inputs (gain sqrt(2)). */
export function heStd(fanIn: number, gain = Math.SQRT2): number {
  return gain / Math.sqrt(fanIn);
}

export interface ConvOptions {
  kernel?: number;
  stride?: number;
  bias?: boolean;
  gain?: number;
  /**
   * ProGAN's equalized learning rate: weights are stored N(0, 1) and scaled by the He constant
   * at run time, so Adam's step is the same relative size for every layer.
   */
  equalized?: boolean;
  /** Depthwise k x k + pointwise 1x1 (Faster Projected GAN) instead of a dense k x k conv. */
  separable?: boolean;
  /**
   * Keep only the input, filter and output for the backward pass (`leanConv`; separable:
   * `separableRecompute`, which also recomputes the depthwise output there). First-order
   * gradients only: for generators, not for a discriminator under a gradient penalty.
   */
  lean?: boolean;
  /**
   * Nearest-upsample the input 2x first. A dense 3x3 conv then runs as phase convolutions at the
   * input's resolution (backend/ops/phase_conv.ts: 4 instead of 9 multiply-adds per output and
   * channel pair, forward and backward, no upsampled tensor) where the backend has their
   * kernels. With `lean`, the conv keeps its small input instead of the upsampled one.
   */
  upsample?: boolean;
  /**
   * Leaky ReLU (slope 0.2) after the bias. Outside gradient tapes tf.fused runs conv, bias and
   * activation as one kernel (one pass over the output instead of three); under a tape it is
   * the same conv, add and leakyRelu ops as writing them out.
   */
  lrelu?: boolean;
}

/** A weight with He init, or N(0,1) storage times the He constant when equalized. */
function heWeight(
  p: Params,
  name: string,
  shape: number[],
  fanIn: number,
  gain: number | undefined,
  equalized: boolean | undefined,
): tf.Tensor {
  const std = heStd(fanIn, gain);
  if (!equalized) return p.get(name, shape, { kind: "normal", std });
  return tf.mul(p.get(name, shape, { kind: "normal", std: 1 }), std);
}

export function conv2d(
  p: Params,
  name: string,
  x: tf.Tensor4D,
  outChannels: number,
  opts: ConvOptions = {},
): tf.Tensor4D {
  // Its own scope: temporaries no backward needs (the raw conv output before bias and
  // activation) are freed here, not when the whole network's forward ends.
  return tf.tidy(() => conv2dBody(p, name, x, outChannels, opts));
}

function conv2dBody(
  p: Params,
  name: string,
  x: tf.Tensor4D,
  outChannels: number,
  opts: ConvOptions,
): tf.Tensor4D {
  const k = opts.kernel ?? 3;
  const inC = x.shape[3];
  const upsample = opts.upsample ?? false;
  // Lean convs pick the phase form themselves (leanConv).
  const phases = upsample && !opts.lean && !opts.separable && k === 3 &&
    (opts.stride ?? 1) === 1 && phaseConvAvailable();
  if (upsample && !opts.lean && !phases) x = upsample2x(x);
  const stride = opts.stride ?? 1;
  const bias = opts.bias ?? true
    ? p.get(`${name}.b`, [outChannels], { kind: "const", value: 0 })
    : undefined;
  let filter: tf.Tensor4D, input = x, strides = stride;
  if (opts.separable && k > 1) {
    // The depthwise part is linear (gain 1); the pointwise part carries the layer's gain.
    const dw = heWeight(p, `${name}.dw`, [k, k, inC, 1], k * k, 1, opts.equalized) as tf.Tensor4D;
    const pwShape = [1, 1, inC, outChannels];
    filter = heWeight(p, `${name}.pw`, pwShape, inC, opts.gain, opts.equalized) as tf.Tensor4D;
    if (opts.lean) {
      return separableRecompute(x, dw, filter, stride, {
        bias,
        slope: opts.lrelu ? LRELU_SLOPE : undefined,
        upsample,
      });
    }
    input = tf.depthwiseConv2d(x, dw, stride, "same");
    strides = 1;
  } else {
    filter = heWeight(
      p,
      `${name}.w`,
      [k, k, inC, outChannels],
      k * k * inC,
      opts.gain,
      opts.equalized,
    ) as tf.Tensor4D;
    if (phases) {
      return phaseUpsampleConv(x, filter, {
        bias,
        slope: opts.lrelu ? LRELU_SLOPE : undefined,
      });
    }
    if (opts.lean) {
      return leanConv(x, filter, {
        stride,
        bias,
        slope: opts.lrelu ? LRELU_SLOPE : undefined,
        upsample,
      });
    }
  }
  return tf.fused.conv2d({
    x: input,
    filter,
    strides,
    pad: "same",
    bias,
    activation: opts.lrelu ? "leakyrelu" : "linear",
    leakyreluAlpha: LRELU_SLOPE,
  });
}

/** Negative slope of every leaky ReLU in the models (ProGAN's, DCGAN's). */
export const LRELU_SLOPE = 0.2;

/**
 * Depthwise k x k then pointwise 1x1 (then bias and leaky ReLU, as `leanConv`) whose backward
 * recomputes the depthwise output from the input instead of keeping it from forward to backward:
 * a separable conv then holds the same activation memory as a dense lean one (its input and
 * output), for one more depthwise pass (k² multiply-adds per value) in backward. Without this,
 * the extra stored activation made a separable generator need more memory than the dense one.
 * First-order gradients only.
 */
export function separableRecompute(
  x: tf.Tensor4D,
  dw: tf.Tensor4D,
  pw: tf.Tensor4D,
  stride: number,
  o: { bias?: tf.Tensor; slope?: number; upsample?: boolean } = {},
): tf.Tensor4D {
  const slope = o.slope;
  const input = (t: tf.Tensor4D) => (o.upsample ? upsample2x(t) : t);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [a, b, c, bias] = args as tf.Tensor4D[];
    const mid = tf.depthwiseConv2d(input(a), b, stride, "same");
    const value = tf.engine().runKernel(
      "FusedConv2D",
      { x: mid, filter: c, ...(o.bias ? { bias } : {}) },
      {
        strides: 1,
        pad: "same",
        dataFormat: "NHWC",
        dilations: 1,
        activation: slope === undefined ? "linear" : "leakyrelu",
        leakyreluAlpha: slope ?? 0,
      } as unknown as tf.NamedAttrMap,
    ) as tf.Tensor4D;
    (args[args.length - 1] as tf.GradSaveFunc)([a, b, c, value]);
    // customGrad frees `mid` when its forward scope ends: only a, b, c and the output are kept.
    const gradFunc = (dyIn: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, dws, pws, ys] = saved as tf.Tensor4D[];
      const dy = slope === undefined ? dyIn : leakyGradFromOutput(dyIn, ys, slope);
      const dBias = o.bias ? tf.sum(dy, [0, 1, 2]) : null;
      const u = input(xs);
      const m = tf.depthwiseConv2d(u, dws, stride, "same");
      const [n, h, w, ci] = m.shape, co = pws.shape[3];
      // The pointwise conv is a matmul over pixels: its two gradients are two matmuls. Each
      // temporary is freed as soon as it is used, so backward's peak stays near a dense conv's.
      const dy2 = tf.reshape(dy, [n * h * w, co]);
      const dPw = tf.tidy(() =>
        tf.reshape(tf.matMul(tf.reshape(m, [n * h * w, ci]), dy2, true, false), pws.shape)
      );
      m.dispose();
      const dMid = tf.tidy(() =>
        tf.reshape(tf.matMul(dy2, tf.reshape(pws, [ci, co]), false, true), [n, h, w, ci])
      );
      dy2.dispose();
      if (dy !== dyIn) dy.dispose();
      const conv = { strides: stride, pad: "same", dilations: 1 };
      const dDw = tf.engine().runKernel(
        "DepthwiseConv2dNativeBackpropFilter",
        { x: u, dy: dMid },
        { ...conv, filterShape: dws.shape },
      ) as tf.Tensor;
      if (u !== xs) u.dispose();
      let dX = tf.engine().runKernel(
        "DepthwiseConv2dNativeBackpropInput",
        { dy: dMid, filter: dws },
        { ...conv, inputShape: u.shape },
      ) as tf.Tensor;
      dMid.dispose();
      if (o.upsample) {
        const dUp = dX;
        dX = upsample2xGrad(xs, dUp);
        dUp.dispose();
      }
      return dBias ? [dX, dDw, dPw, dBias] : [dX, dDw, dPw];
    };
    return { value, gradFunc };
  });
  return (o.bias ? op(x, dw, pw, o.bias) : op(x, dw, pw)) as tf.Tensor4D;
}

export function dense(
  p: Params,
  name: string,
  x: tf.Tensor2D,
  out: number,
  opts: { gain?: number; equalized?: boolean } = {},
): tf.Tensor2D {
  const fanIn = x.shape[1];
  const w = heWeight(p, `${name}.w`, [fanIn, out], fanIn, opts.gain, opts.equalized);
  return tf.add(
    tf.matMul(x, w as tf.Tensor2D),
    p.get(`${name}.b`, [out], { kind: "const", value: 0 }),
  );
}

export function lrelu<T extends tf.Tensor>(x: T, alpha = LRELU_SLOPE): T {
  return tf.leakyRelu(x, alpha);
}

/** Nearest-neighbour upsampling by doublings to `size` (a growing GAN's early, small outputs). */
export function upsampleTo(x: tf.Tensor4D, size: number): tf.Tensor4D {
  return tf.tidy(() => {
    let y = x;
    while (y.shape[1] < size) y = upsample2x(y);
    return y;
  });
}

/**
 * 2x2 box downsampling: an average pool, whose gradient's gradient (which WGAN-GP and R1 need
 * through the discriminator) backend/patches/tfjs_bug_fixes.ts registers. The earlier reshape + mean transposed
 * a rank-6 tensor element by element: 50x slower (128 ms for a 64² batch).
 */
export function downsample2x(x: tf.Tensor4D): tf.Tensor4D {
  return boxDownsample(x, 2);
}

/** k x k box downsampling in one pass (the same as log2(k) halvings, up to rounding). */
export function boxDownsample(x: tf.Tensor4D, k: number): tf.Tensor4D {
  return tf.avgPool(x, k, k, "valid");
}

/**
 * ProGAN's pixelwise feature normalisation: each pixel's feature vector to unit RMS (one fused
 * kernel each way on the JS-array backends, backend/ops/pixel_norm.ts).
 */
export { pixelNorm } from "../backend/ops/pixel_norm.ts";

/** Linear interpolation a + (b - a) * t (ProGAN's fade-in blend). */
export function lerp<T extends tf.Tensor>(a: T, b: T, t: number): T {
  return tf.add(a, tf.mul(tf.sub(b, a), t));
}
