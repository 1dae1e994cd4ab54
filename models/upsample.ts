/** Nearest-neighbour 2x upsampling and its gradient, shared by the layers and the lean conv op. */
import * as tf from "@tensorflow/tfjs";

export function upsample2x(x: tf.Tensor4D): tf.Tensor4D {
  return tf.image.resizeNearestNeighbor(x, [x.shape[1] * 2, x.shape[2] * 2]);
}

/** The gradient of `upsample2x` for the input `x`: each input pixel sums its four copies'. */
export function upsample2xGrad(x: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel("ResizeNearestNeighborGrad", { images: x, dy }, {
    alignCorners: false,
    halfPixelCenters: false,
  }) as tf.Tensor;
}
