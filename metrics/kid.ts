/**
 * KID from Inception features, fast enough for a stage: the unbiased MMD^2 with the cubic kernel
 * averaged over random subsets, drawn exactly as kid_reference.ts draws them (same Rng calls),
 * from kernel matrices computed once instead of per subset.
 */
import { Rng } from "../nn/rng.ts";
import { rowProducts, type Rows } from "./feature_rows.ts";

/** (x.y / d + 1)^3 for all row pairs. */
function cubicKernel(x: Rows, nx: number, y: Rows, ny: number, d: number): Float64Array {
  const xs = x instanceof Float64Array ? x : Float64Array.from(x);
  const ys = x === y ? xs : (y instanceof Float64Array ? y : Float64Array.from(y));
  const k = rowProducts(xs, nx, ys, ny, d);
  for (let i = 0; i < k.length; i++) k[i] = (k[i] / d + 1) ** 3;
  return k;
}

/**
 * KID as kid_reference.ts's kernelInceptionDistance (same subsets from the same seed, same unbiased
 * estimator), from kernel matrices computed once: O(n^2 d + subsets m^2) instead of
 * O(subsets m^2 d).
 */
export function kidFromFeatures(
  fake: Rows,
  real: Rows,
  d: number,
  opts: { subsets?: number; subsetSize?: number; seed?: number } = {},
): { mean: number; std: number } {
  const nf = fake.length / d, nr = real.length / d;
  const m = Math.min(opts.subsetSize ?? 1000, nf, nr);
  if (m < 2) throw new Error("KID needs at least 2 samples in each set");
  const kff = cubicKernel(fake, nf, fake, nf, d);
  const krr = cubicKernel(real, nr, real, nr, d);
  const kfr = cubicKernel(fake, nf, real, nr, d);
  const rng = new Rng(opts.seed ?? 0);
  const choose = (n: number) => {
    const idx = Array.from({ length: n }, (_, i) => i);
    rng.shuffle(idx);
    return idx.slice(0, m);
  };
  const within = (k: Float64Array, n: number, ix: number[]) => {
    let s = 0;
    for (let i = 0; i < m; i++) {
      const row = ix[i] * n;
      for (let j = 0; j < m; j++) if (i !== j) s += k[row + ix[j]];
    }
    return s;
  };
  const values: number[] = [];
  for (let s = 0; s < (opts.subsets ?? 100); s++) {
    const ix = choose(nf), iy = choose(nr);
    let cross = 0;
    for (let i = 0; i < m; i++) {
      const row = ix[i] * nr;
      for (let j = 0; j < m; j++) cross += kfr[row + iy[j]];
    }
    values.push(
      within(kff, nf, ix) / (m * (m - 1)) + within(krr, nr, iy) / (m * (m - 1)) -
        (2 * cross) / (m * m),
    );
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  return { mean, std };
}
