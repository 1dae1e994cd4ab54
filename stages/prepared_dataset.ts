/**
 * A prepared dataset (the `prepare` stage's Zarr store) as the stages read it: its resolution and
 * size, images as floats in [-1, 1], and the split every training stage shares: the last
 * `holdout` images (at most a quarter) are held out, the rest are trained on.
 */
import { MetaFields } from "../nn/meta_fields.ts";
import type { BatchSource } from "../data/batch_source.ts";
import { openImageBatches } from "../data/image_batches.ts";
import { readFloatArray } from "../data/zarr_arrays.ts";
import { readAttributes } from "../data/zarr_io.ts";

async function rootAttributes(store: string): Promise<MetaFields> {
  return MetaFields.of(await readAttributes(store, ""), store);
}

/** Side of the dataset's full-resolution images. */
export async function datasetResolution(store: string): Promise<number> {
  return (await rootAttributes(store)).int("resolution");
}

/** Resolution and number of images. */
export async function datasetSize(store: string): Promise<{ resolution: number; count: number }> {
  const f = await rootAttributes(store);
  return { resolution: f.int("resolution"), count: f.int("count") };
}

/** Held-out images: `requested`, at most a quarter of the `count`. */
export function holdoutCount(requested: number, count: number): number {
  return Math.min(requested, Math.floor(count / 4));
}

/** [0, 255] pixel values as floats in [-1, 1] (as the models and Inception take them). */
export function toUnitRange(values: Float32Array | Uint8Array): Float32Array {
  // A plain loop: Float32Array.from with a map function costs ~0.5 us a value in V8.
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i] / 127.5 - 1;
  return out;
}

/** Every image at full resolution, values in [0, 255], NHWC. */
export async function readImages(store: string, resolution: number) {
  return await readFloatArray(store, `images/${resolution}`);
}

export interface TrainingSplit {
  resolution: number;
  count: number;
  holdout: number;
  /** Shuffled minibatches of the training images (all but the held-out tail). */
  batches: BatchSource;
  /** The held-out images, in [-1, 1]. */
  heldOut(): Promise<Float32Array>;
}

export async function trainingSplit(
  store: string,
  o: { holdout: number; batch: number; seed: number },
): Promise<TrainingSplit> {
  const { resolution, count } = await datasetSize(store);
  const holdout = holdoutCount(o.holdout, count);
  const batches = await openImageBatches({
    store,
    resolution,
    batchSize: o.batch,
    seed: o.seed,
    limit: count - holdout,
  });
  const heldOut = async () => {
    const all = await readImages(store, resolution);
    const per = all.shape[1] * all.shape[2] * all.shape[3];
    return toUnitRange(all.data.subarray((count - holdout) * per, count * per));
  };
  return { resolution, count, holdout, batches, heldOut };
}
