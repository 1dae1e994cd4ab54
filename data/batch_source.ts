/**
 * What a training loop consumes: minibatches of float32 NHWC samples. The order is a pure
 * function of (seed, step), so a resumed run reads exactly the batches an uninterrupted run
 * would, with no reader state to checkpoint.
 */
export interface BatchSource {
  /** Height, width, channels of one sample. */
  readonly sampleShape: readonly [number, number, number];
  /** Number of samples in the underlying set. */
  readonly size: number;
  readonly batchSize: number;
  /** The batch used at training step `step` (0-based): batchSize * H * W * C values, NHWC. */
  batch(step: number): Promise<Float32Array>;
  /** The rows of the set (0-based, within `size`) that `batch(step)` holds, in its order. */
  indices?(step: number): Uint32Array;
  close(): Promise<void>;
}
