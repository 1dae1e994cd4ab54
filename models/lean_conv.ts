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

export interface LeanConvOptions {
  stride: number;
  bias?: tf.Tensor;
  /** The leaky ReLU's slope; none: linear. */
  slope?: number;
  /**
   * Nearest-upsample x 2x first; the op keeps x, not the 4x larger upsampled tensor, and
   * upsamples again in backward (a copy, next to the conv's multiply-adds).
   */
  upsample?: boolean;
}

/** A dense 'same' conv with optional bias and leaky ReLU, kept lean for backward (see above). */
export function leanConv(x: tf.Tensor4D, filter: tf.Tensor4D, o: LeanConvOptions): tf.Tensor4D {
  const slope = o.slope;
  if (slope !== undefined && slope < 0) throw new Error(`leanConv: slope ${slope} < 0`);
  const conv = { strides: o.stride, pad: "same", dataFormat: "NHWC", dilations: 1 };
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [a, w, b] = args as tf.Tensor4D[];
    const save = args[args.length - 1] as tf.GradSaveFunc;
    // The fused kernel directly: tf.fused.conv2d splits into three ops while a gradient is
    // being taken.
    const y = tf.engine().runKernel(
      "FusedConv2D",
      { x: o.upsample ? upsample2x(a) : a, filter: w, ...(o.bias ? { bias: b } : {}) },
      {
        ...conv,
        dimRoundingMode: undefined,
        activation: slope === undefined ? "linear" : "leakyrelu",
        leakyreluAlpha: slope ?? 0,
      } as unknown as tf.NamedAttrMap,
    ) as tf.Tensor4D;
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
