/**
 * The modes of a self-conditioned GAN (Liu et al. 2020): k-means clusters of the training
 * samples, so G draws a cluster as often as the data holds it and D judges each sample against
 * its cluster's real ones. Clustered once per run, from the run's seed.
 */
import { readFloatArray } from "../data/zarr_arrays.ts";
import { kmeans } from "../nn/kmeans.ts";

export interface DataClusters {
  /** Each training sample's cluster, by row of the array. */
  assignment: Int32Array;
  /** Each cluster's share of the samples. */
  weights: number[];
  iterations: number;
}

/** Clusters the rows of the [N, H, W, C] array `array` in `store` into `k`. */
export async function clusterArray(
  store: string,
  array: string,
  k: number,
  seed: number,
): Promise<DataClusters> {
  const { data, shape } = await readFloatArray(store, array);
  const dim = shape.slice(1).reduce((a, b) => a * b, 1);
  const r = kmeans(data, dim, k, { seed });
  const n = shape[0];
  return { assignment: r.assignment, weights: r.sizes.map((s) => s / n), iterations: r.iterations };
}
