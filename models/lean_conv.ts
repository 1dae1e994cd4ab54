/**
 * Convolution + bias + leaky ReLU as one op whose backward keeps only the input, the filter and
 * the output. Written as separate tfjs ops, the same layer keeps the raw conv output (tfjs's Add
 * gradient saves both addends, for their shapes) and the pre-activation (LeakyRelu's input) from
 * forward to backward: two more activation-sized buffers per layer. With a slope >= 0 the
 * output's sign is the pre-activation's, so the activation's gradient reads the output.
 * First-order gradients only (a customGrad): for generators, not for a discriminator under a
 * gradient penalty.
 */
import * as tf from "@tensorflow/tfjs";
import { leakyGradFromOutput } from "../backend/ops/leaky_relu_grad.ts";
import { upsample2x, upsample2xGrad } from "./upsample.ts";
import { mayNeedGradient } from "../backend/ops/off_tape.ts";
import {
  deinterleavePhases,
  interleavePhases,
  PHASE_PAD,
  phaseConvApplies,
  phaseFilters,
  phaseFiltersGrad,
} from "../backend/ops/phase_conv.ts";

export interface LeanConvOptions {
  stride: number;
  bias?: tf.Tensor;
  /** The leaky ReLU's slope; none: linear. */
  slope?: number;
  /**
   * Nearest-upsample x 2x first; the op keeps x, not the 4x larger upsampled tensor. A 3x3
   * stride-1 conv runs as phase convolutions at x's resolution forward and backward
   * (backend/ops/phase_conv.ts) where the backend has their kernels; otherwise x is upsampled
   * again in backward (a copy, next to the conv's multiply-adds).
   */
  upsample?: boolean;
}

/** A dense 'same' conv with optional bias and leaky ReLU, kept lean for backward (see above). */
export function leanConv(x: tf.Tensor4D, filter: tf.Tensor4D, o: LeanConvOptions): tf.Tensor4D {
  const slope = o.slope;
  if (slope !== undefined && slope < 0) throw new Error(`leanConv: slope ${slope} < 0`);
  if (o.upsample && phaseConvApplies(filter, o.stride)) {
    return leanPhaseConv(x, filter, o);
  }
  const conv = { strides: o.stride, pad: "same", dataFormat: "NHWC", dilations: 1 };
  const needDx = mayNeedGradient(x);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [a, w, b] = args as tf.Tensor4D[];
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const y = fusedConv(o.upsample ? upsample2x(a) : a, w, o.bias ? b : null, conv, slope);
    save([a, w, y]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ws, ys] = saved as tf.Tensor4D[];
      const dz = slope === undefined ? dy : leakyGradFromOutput(dy, ys, slope);
      const input = o.upsample ? upsample2x(xs) : xs;
      const dw = tf.engine().runKernel("Conv2DBackpropFilter", { x: input, dy: dz }, {
        ...conv,
        filterShape: ws.shape,
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
      if (input !== xs) input.dispose();
      if (!needDx) {
        const grads = [notNeeded(), dw];
        if (o.bias) grads.push(tf.sum(dz, [0, 1, 2]));
        if (dz !== dy) dz.dispose();
        return grads;
      }
      let dx = tf.engine().runKernel("Conv2DBackpropInput", { dy: dz, filter: ws }, {
        ...conv,
        inputShape: input.shape,
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
      if (o.upsample) {
        const dUp = dx;
        dx = upsample2xGrad(xs, dUp);
        dUp.dispose();
      }
      const grads = [dx, dw];
      if (o.bias) grads.push(tf.sum(dz, [0, 1, 2]));
      if (dz !== dy) dz.dispose();
      return grads;
    };
    return { value: y, gradFunc };
  });
  return (o.bias ? op(x, filter, o.bias) : op(x, filter)) as tf.Tensor4D;
}

/**
 * Conv + bias + (leaky) ReLU as tfjs's FusedConv2D kernel, run directly: tf.fused.conv2d splits
 * into three ops while a gradient is being taken.
 */
function fusedConv(
  x: tf.Tensor,
  filter: tf.Tensor,
  bias: tf.Tensor | null,
  conv: Record<string, unknown>,
  slope: number | undefined,
): tf.Tensor4D {
  return tf.engine().runKernel(
    "FusedConv2D",
    { x, filter, ...(bias ? { bias } : {}) },
    {
      ...conv,
      dimRoundingMode: undefined,
      activation: slope === undefined ? "linear" : "leakyrelu",
      leakyreluAlpha: slope ?? 0,
    } as unknown as tf.NamedAttrMap,
  ) as tf.Tensor4D;
}

/**
 * Stands in for an input gradient no backward reads: the input (a D's real batch, say) comes
 * from no recorded op and is not differentiated against (`mayNeedGradient` at forward), so its
 * conv is skipped. A scalar, so that a wrong call fails backprop's shape check instead of
 * passing zeros.
 */
function notNeeded(): tf.Tensor {
  return tf.scalar(0);
}

/**
 * `leanConv` of an upsampling 3x3 conv in phase form: forward one fused 2x2 conv (bias and
 * activation on its 4 cout channels) at the input's resolution and an interleaving copy;
 * backward the leaky ReLU's gradient from the output, the adjoint copy, the conv's two
 * gradients at the input's resolution, and the phase filters' gradient folded back onto the
 * 3x3 taps. Keeps x, the phase filters (16/9 of the filter's size) and the output.
 */
function leanPhaseConv(x: tf.Tensor4D, filter: tf.Tensor4D, o: LeanConvOptions): tf.Tensor4D {
  const slope = o.slope;
  const conv = { strides: 1, pad: PHASE_PAD, dataFormat: "NHWC", dilations: 1 };
  const needDx = mayNeedGradient(x);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [a, w, b] = args as tf.Tensor4D[];
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const wp = phaseFilters(w);
    const bias4 = o.bias ? tf.tile(b, [4]) : null;
    const z = fusedConv(a, wp, bias4, conv, slope);
    bias4?.dispose();
    const y = interleavePhases(z);
    z.dispose();
    save([a, wp, y]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, wps, ys] = saved as tf.Tensor4D[];
      const dyAct = slope === undefined ? dy : leakyGradFromOutput(dy, ys, slope);
      const dz = deinterleavePhases(dyAct);
      const dBias = o.bias ? tf.sum(dyAct, [0, 1, 2]) : null;
      if (dyAct !== dy) dyAct.dispose();
      const dwp = tf.engine().runKernel("Conv2DBackpropFilter", { x: xs, dy: dz }, {
        ...conv,
        filterShape: wps.shape,
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
      const dw = phaseFiltersGrad(dwp);
      dwp.dispose();
      const dx = needDx
        ? tf.engine().runKernel("Conv2DBackpropInput", { dy: dz, filter: wps }, {
          ...conv,
          inputShape: xs.shape,
        } as unknown as tf.NamedAttrMap) as tf.Tensor
        : notNeeded();
      dz.dispose();
      return dBias ? [dx, dw, dBias] : [dx, dw];
    };
    return { value: y, gradFunc };
  });
  return (o.bias ? op(x, filter, o.bias) : op(x, filter)) as tf.Tensor4D;
}
