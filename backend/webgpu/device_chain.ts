/**
 * A conv chain (conv_chain.ts: a decoder of [upsample] conv + bias + leaky ReLU layers) run on
 * tensors that stay on the device: the same tfjs ops as `tfjsChain`, without its round trip
 * through host arrays (which needs a synchronous read). The weights are uploaded once.
 */
import * as tf from "@tensorflow/tfjs";
import {
  type ChainConv,
  chainOps,
  chainShapes,
  type ChainWeights,
  keptChainWeights,
} from "../inference/conv_chain.ts";

export class DeviceChain {
  #weights: ChainWeights | null = null;

  constructor(readonly layers: ChainConv[]) {}

  run(x: tf.Tensor4D): tf.Tensor4D {
    chainShapes(this.layers, x.shape); // the same shape checks as the compiled chains
    // Kept: the first run may happen inside a caller's tidy, which must not free them.
    const weights = this.#weights ??= keptChainWeights(this.layers);
    return tf.tidy(() => chainOps(this.layers, weights, x));
  }

  dispose(): void {
    for (const w of this.#weights ?? []) tf.dispose([w.filter, w.bias]);
    this.#weights = null;
  }
}
