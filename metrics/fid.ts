/**
 * FID from Inception features, fast enough for a stage: the same quantity as fid_reference.ts
 * (the textbook formula, kept with its test against pytorch-fid's scipy computation), computed
 * another way.
 *
 * FID = |mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr (S1 S2)^1/2. With A, B the centred feature rows
 * (n1 x d, n2 x d), S1 S2 = A'A B'B / c has the same non-zero eigenvalues as M M' with
 * M = A B' / sqrt((n1-1)(n2-1)), so tr (S1 S2)^1/2 is the sum of the square roots of the
 * eigenvalues of an n x n matrix (n = min(n1, n2)) when n <= d: exact for the rank-deficient
 * covariances of fewer images than dimensions, where scipy's sqrtm needs its 1e-6 fallback. With
 * more images than dimensions it is the d x d S1^1/2 S2 S1^1/2 instead. Eigenvalues come from
 * symmetric_eigen.ts, and 1000 x 2048 features take seconds.
 */
import { centred, meanCov, rowProducts, type Rows } from "./feature_rows.ts";
import { symmetricEigenDecomposition, symmetricEigenvalues } from "./symmetric_eigen.ts";

function sqrtSum(values: Float64Array): number {
  let s = 0;
  for (const v of values) s += Math.sqrt(Math.max(v, 0));
  return s;
}

/** Square root of a symmetric PSD d x d matrix through its eigendecomposition. */
function sqrtPsdFast(a: Float64Array, d: number): Float64Array {
  const { values, vectors } = symmetricEigenDecomposition(a, d);
  // R = V' diag(sqrt l) V with V's rows the eigenvectors.
  const scaled = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const r = Math.sqrt(Math.max(values[k], 0));
    for (let j = 0; j < d; j++) scaled[k * d + j] = vectors[k * d + j] * r;
  }
  const out = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    for (let i = 0; i < d; i++) {
      const v = vectors[k * d + i];
      if (v === 0) continue;
      const row = i * d, src = k * d;
      for (let j = 0; j < d; j++) out[row + j] += v * scaled[src + j];
    }
  }
  return out;
}

function matmulSquare(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const row = i * n;
    for (let k = 0; k < n; k++) {
      const v = a[row + k];
      if (v === 0) continue;
      const src = k * n;
      for (let j = 0; j < n; j++) out[row + j] += v * b[src + j];
    }
  }
  return out;
}

/** FID between two sets of feature rows (n1 x d and n2 x d, each n >= 2). */
export function fidFromFeatures(x1: Rows, n1: number, x2: Rows, n2: number, d: number): number {
  if (n1 < 2 || n2 < 2) throw new Error("FID needs at least 2 feature rows per set");
  const a = centred(x1, n1, d), b = centred(x2, n2, d);
  let diff = 0;
  for (let k = 0; k < d; k++) diff += (a.mu[k] - b.mu[k]) ** 2;
  let trSqrt: number;
  if (Math.min(n1, n2) <= d) {
    const m = rowProducts(a.c, n1, b.c, n2, d); // A B', n1 x n2
    const scale = 1 / ((n1 - 1) * (n2 - 1));
    // G = M M' (n1 x n1) or M' M (n2 x n2), whichever is smaller.
    let g: Float64Array, n: number;
    if (n1 <= n2) {
      g = rowProducts(m, n1, m, n1, n2);
      n = n1;
    } else {
      const mt = new Float64Array(n2 * n1);
      for (let i = 0; i < n1; i++) for (let j = 0; j < n2; j++) mt[j * n1 + i] = m[i * n2 + j];
      g = rowProducts(mt, n2, mt, n2, n1);
      n = n2;
    }
    for (let i = 0; i < g.length; i++) g[i] *= scale;
    trSqrt = sqrtSum(symmetricEigenvalues(g, n));
  } else {
    const s1 = meanCov(x1, n1, d).cov, s2 = meanCov(x2, n2, d).cov;
    const r = sqrtPsdFast(s1, d);
    const inner = matmulSquare(matmulSquare(r, s2, d), r, d);
    for (let i = 0; i < d; i++) {
      for (let j = i + 1; j < d; j++) {
        const v = (inner[i * d + j] + inner[j * d + i]) / 2;
        inner[i * d + j] = inner[j * d + i] = v;
      }
    }
    trSqrt = sqrtSum(symmetricEigenvalues(inner, d));
  }
  return diff + a.trace + b.trace - 2 * trSqrt;
}
