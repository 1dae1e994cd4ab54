/**
 * k-means (Lloyd's iterations from a k-means++ start), seeded: the same data and seed give the
 * same clusters. Distances come from one matrix product per iteration,
 * |x - c|^2 = |x|^2 - 2 x.c + |c|^2, so tens of thousands of points take a moment.
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "./rng.ts";

export interface KMeansOptions {
  seed: number;
  /** Lloyd iterations at most; they stop early once no point changes cluster. Default 30. */
  iterations?: number;
}

export interface KMeansResult {
  /** [k, dim], row-major. */
  centroids: Float32Array;
  /** Each point's cluster. */
  assignment: Int32Array;
  /** Points per cluster. */
  sizes: number[];
  iterations: number;
}

/** Each row of `points` [n, dim]'s nearest row of `centroids` [k, dim]. */
export function nearestCentroid(
  points: Float32Array,
  centroids: Float32Array,
  dim: number,
): Int32Array {
  return tf.tidy(() => {
    const x = tf.tensor2d(points, [points.length / dim, dim]);
    const c = tf.tensor2d(centroids, [centroids.length / dim, dim]);
    // |x|^2 is the same for every centroid of a row: it does not change the argmin.
    const d = tf.sub(tf.sum(tf.square(c), 1), tf.mul(tf.matMul(x, c, false, true), 2));
    return Int32Array.from(tf.argMin(d, 1).dataSync());
  });
}

/** k-means++ seeding (Arthur & Vassilvitskii 2007): each next centre drawn by squared distance. */
function plusPlus(points: Float32Array, n: number, dim: number, k: number, rng: Rng) {
  const centroids = new Float32Array(k * dim);
  const nearest = new Float64Array(n).fill(Infinity);
  let chosen = rng.int(n);
  for (let j = 0; j < k; j++) {
    centroids.set(points.subarray(chosen * dim, (chosen + 1) * dim), j * dim);
    let total = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let t = 0; t < dim; t++) {
        const v = points[i * dim + t] - centroids[j * dim + t];
        s += v * v;
      }
      if (s < nearest[i]) nearest[i] = s;
      total += nearest[i];
    }
    if (j + 1 === k) break;
    let r = rng.uniform() * total;
    chosen = n - 1;
    for (let i = 0; i < n && total > 0; i++) {
      r -= nearest[i];
      if (r < 0) {
        chosen = i;
        break;
      }
    }
    // Every point already a centre (fewer distinct points than k): any point will do.
    if (total === 0) chosen = rng.int(n);
  }
  return centroids;
}

export function kmeans(
  points: Float32Array,
  dim: number,
  k: number,
  o: KMeansOptions,
): KMeansResult {
  const n = points.length / dim;
  if (!Number.isInteger(n) || n < k || k < 1) {
    throw new Error(`k-means: ${k} clusters need at least ${k} points of ${dim} values, got ${n}`);
  }
  const rng = new Rng(o.seed);
  const centroids = plusPlus(points, n, dim, k, rng);
  let assignment = nearestCentroid(points, centroids, dim);
  let iterations = 0;
  const sizes = new Array<number>(k);
  for (let it = 0; it < (o.iterations ?? 30); it++) {
    iterations = it + 1;
    // Each centre moves to its points' mean; an empty cluster keeps its centre.
    const sums = new Float64Array(k * dim);
    sizes.fill(0);
    for (let i = 0; i < n; i++) {
      const a = assignment[i];
      sizes[a]++;
      for (let t = 0; t < dim; t++) sums[a * dim + t] += points[i * dim + t];
    }
    for (let j = 0; j < k; j++) {
      if (sizes[j] === 0) continue;
      for (let t = 0; t < dim; t++) centroids[j * dim + t] = sums[j * dim + t] / sizes[j];
    }
    const next = nearestCentroid(points, centroids, dim);
    const moved = next.some((a, i) => a !== assignment[i]);
    assignment = next;
    if (!moved) break;
  }
  sizes.fill(0);
  for (const a of assignment) sizes[a]++;
  return { centroids, assignment, sizes, iterations };
}
