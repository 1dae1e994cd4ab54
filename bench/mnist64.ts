/**
 * The training benches' dataset and quality measure: MNIST upscaled to 64² (padded to 32, as the
 * pipeline prepares it), and SWD (x1e3, ProGAN's) of 256 generated images against the first 256.
 */
import type * as tf from "@tensorflow/tfjs";
import { prepareDataset } from "../data/prepare.ts";
import { mnistFiles } from "../data/idx.ts";
import { readFloatArray } from "../data/zarr_arrays.ts";
import { type ImageSet, slicedWassersteinDistance } from "../metrics/swd.ts";

export const RES = 64;
const EVAL_COUNT = 256;

/** The first `limit` MNIST training digits as a prepared 64² dataset in `dir`; its images. */
export async function prepareMnist64(dir: string, limit: number) {
  await prepareDataset({
    source: { kind: "idx", ...mnistFiles("train"), limit },
    resolution: RES,
    pad: 2,
    upscaleSmall: true,
    out: dir,
  });
  return await readFloatArray(dir, `images/${RES}`);
}

/** SWD of 256 generated images ([-1, 1], clipped) against the first 256 of `real` ([0, 255]). */
export function swdAgainst(real: Float32Array): (generated: tf.Tensor4D) => Promise<number> {
  const n = EVAL_COUNT;
  const realSet: ImageSet = { data: real.subarray(0, n * RES * RES * 3), n, h: RES, w: RES, c: 3 };
  return async (g) => {
    const f = (g.dataSync() as Float32Array).map((v) => (Math.max(-1, Math.min(1, v)) + 1) * 127.5);
    return (await slicedWassersteinDistance(realSet, { data: f, n, h: RES, w: RES, c: 3 }, {
      seed: 5,
      patchesPerImage: 64,
    })).average;
  };
}
