/**
 * A conv chain (conv_chain.ts: a decoder of [upsample] conv + bias + leaky ReLU layers) run on
 * tensors that stay on the device: the same tfjs ops as `tfjsChain`, without its round trip
 * through host arrays (which needs a synchronous read). The weights are uploaded once.
 */
import * as tf from "@tensorflow/tfjs";
import { type ChainConv, chainShapes } from "../inference/conv_chain.ts";

export class DeviceChain {
  #weights: { filter: tf.Tensor4D; bias: tf.Tensor1D }[] | null = null;

  constructor(readonly layers: ChainConv[]) {}

  run(x: tf.Tensor4D): tf.Tensor4D {
    chainShapes(this.layers, x.shape); // the same shape checks as the compiled chains
    // Kept: the first run may happen inside a caller's tidy, which must not free them.
    const weights = this.#weights ??= this.layers.map((l) => ({
      filter: tf.keep(
        tf.tensor4d(l.filter.data, l.filter.shape as [number, number, number, number]),
      ),
      bias: tf.keep(tf.tensor1d(l.bias)),
    }));
    return tf.tidy(() => {
      let h = x;
      this.layers.forEach((l, i) => {
        if (l.upsample) h = tf.image.resizeNearestNeighbor(h, [2 * h.shape[1], 2 * h.shape[2]]);
        h = tf.fused.conv2d({
          x: h,
          filter: weights[i].filter,
          bias: weights[i].bias,
          strides: 1,
          pad: "same",
          activation: l.alpha === null ? "linear" : "leakyrelu",
          leakyreluAlpha: l.alpha ?? undefined,
        });
      });
      return h;
    });
  }

  dispose(): void {
    for (const w of this.#weights ?? []) tf.dispose([w.filter, w.bias]);
    this.#weights = null;
  }
}
