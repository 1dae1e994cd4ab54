/** Pictures the stages write: a PNG grid of NHWC [-1,1] images, upscaled when small. */
import type * as tf from "@tensorflow/tfjs";
import { encodePng, imageGrid } from "../data/image_io.ts";

/** A PNG grid of NHWC [-1,1] images, upscaled so small samples are visible. */
export async function gridPng(
  images: tf.Tensor4D | Float32Array,
  shape?: [number, number, number, number],
  cols = 8,
): Promise<Uint8Array> {
  const [n, h, w, c] = images instanceof Float32Array ? shape! : images.shape;
  const data = images instanceof Float32Array ? images : (await images.data() as Float32Array);
  const g = imageGrid(data, n, h, w, c, Math.min(cols, n));
  return await encodePng(g.pixels, g.width, g.height, 3, h <= 64 ? 3 : 1);
}
