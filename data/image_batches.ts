/**
 * Minibatches of prepared images: one pyramid level `images/<res>` of a `prepareDataset` store,
 * as floats in [-1, 1] NHWC, shuffled per epoch from the seed (see `openArrayBatches`).
 */
import type { BatchSource } from "./batch_source.ts";
import { openArrayBatches } from "./zarr_arrays.ts";

/** Random image batches at one level of a prepared dataset, floats in [-1, 1]. */
export function openImageBatches(o: {
  store: string;
  resolution: number;
  batchSize: number;
  seed: number;
  limit?: number;
  offset?: number;
  prefetch?: boolean;
}): Promise<BatchSource> {
  return openArrayBatches({ ...o, array: `images/${o.resolution}` });
}
