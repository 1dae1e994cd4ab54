/**
 * Kernel Inception Distance: the unbiased MMD² between feature sets with the cubic polynomial
 * kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets (100 of 1000 by default; fewer
 * samples use smaller subsets). Subsets are drawn with our seeded Rng, without replacement.
 *
 * The textbook version the fast path (kid.ts) is tested against; only tests use it.
 */
import { Rng } from "../nn/rng.ts";

function kernelSum(
  a: Float64Array | Float32Array,
  ia: number[],
  b: Float64Array | Float32Array,
  ib: number[],
  d: number,
  skipDiagonal: boolean,
): number {
  let total = 0;
  for (let i = 0; i < ia.length; i++) {
    for (let j = 0; j < ib.length; j++) {
      if (skipDiagonal && i === j) continue;
      let dot = 0;
      const oa = ia[i] * d, ob = ib[j] * d;
      for (let k = 0; k < d; k++) dot += a[oa + k] * b[ob + k];
      total += (dot / d + 1) ** 3;
    }
  }
  return total;
}

/** Unbiased MMD² of one pair of equal-size subsets given by row indices. */
export function mmd2Unbiased(
  x: Float64Array | Float32Array,
  ix: number[],
  y: Float64Array | Float32Array,
  iy: number[],
  d: number,
): number {
  const m = ix.length;
  return kernelSum(x, ix, x, ix, d, true) / (m * (m - 1)) +
    kernelSum(y, iy, y, iy, d, true) / (m * (m - 1)) -
    (2 * kernelSum(x, ix, y, iy, d, false)) / (m * m);
}

export function kernelInceptionDistance(
  fake: Float64Array | Float32Array,
  real: Float64Array | Float32Array,
  d: number,
  opts: { subsets?: number; subsetSize?: number; seed?: number } = {},
): { mean: number; std: number } {
  const nf = fake.length / d, nr = real.length / d;
  const m = Math.min(opts.subsetSize ?? 1000, nf, nr);
  if (m < 2) throw new Error("KID needs at least 2 samples in each set");
  const rng = new Rng(opts.seed ?? 0);
  const choose = (n: number) => {
    const idx = Array.from({ length: n }, (_, i) => i);
    rng.shuffle(idx);
    return idx.slice(0, m);
  };
  const values: number[] = [];
  for (let s = 0; s < (opts.subsets ?? 100); s++) {
    values.push(mmd2Unbiased(fake, choose(nf), real, choose(nr), d));
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  return { mean, std };
}
