/**
 * Frechet distance between two Gaussians (the FID formula):
 *   |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2),
 * with tr((S1 S2)^1/2) = tr((S1^1/2 S2 S1^1/2)^1/2): both square roots are of symmetric PSD
 * matrices, so a symmetric eigendecomposition (cyclic Jacobi) replaces scipy's general sqrtm.
 * As pytorch-fid, a non-finite result retries with 1e-6 added to both diagonals.
 *
 * The reference the fast path (fid.ts) is tested against; only tests use it.
 */

/** Eigenvalues and eigenvectors (columns of `vectors`, row-major n x n) of a symmetric matrix. */
export function symmetricEigen(a: Float64Array, n: number, tol = 1e-12, maxSweeps = 100) {
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q] ** 2;
    if (off < tol * tol) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p], mkq = m[k * n + q];
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k], mqk = m[q * n + k];
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = m[i * n + i];
  return { values, vectors: v };
}

/** Square root of a symmetric PSD matrix (tiny negative eigenvalues from rounding clipped to 0). */
export function sqrtPsd(a: Float64Array, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(a, n);
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const r = Math.sqrt(Math.max(values[k], 0));
    if (r === 0) continue;
    for (let i = 0; i < n; i++) {
      const vi = vectors[i * n + k] * r;
      if (vi === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] += vi * vectors[j * n + k];
    }
  }
  return out;
}

function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] += aik * b[k * n + j];
    }
  }
  return out;
}

function traceSqrtProduct(s1: Float64Array, s2: Float64Array, n: number): number {
  const r = sqrtPsd(s1, n);
  const inner = matmul(matmul(r, s2, n), r, n);
  // Symmetrise against rounding before the second square root.
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const avg = (inner[i * n + j] + inner[j * n + i]) / 2;
      inner[i * n + j] = inner[j * n + i] = avg;
    }
  }
  const { values } = symmetricEigen(inner, n);
  return values.reduce((s, v) => s + Math.sqrt(Math.max(v, 0)), 0);
}

export function frechetDistance(
  mu1: Float64Array,
  s1: Float64Array,
  mu2: Float64Array,
  s2: Float64Array,
  eps = 1e-6,
): number {
  const n = mu1.length;
  let diff = 0;
  for (let i = 0; i < n; i++) diff += (mu1[i] - mu2[i]) ** 2;
  let tr = 0;
  for (let i = 0; i < n; i++) tr += s1[i * n + i] + s2[i * n + i];
  let covmean = traceSqrtProduct(s1, s2, n);
  if (!Number.isFinite(covmean)) {
    const a = Float64Array.from(s1), b = Float64Array.from(s2);
    for (let i = 0; i < n; i++) {
      a[i * n + i] += eps;
      b[i * n + i] += eps;
    }
    covmean = traceSqrtProduct(a, b, n);
  }
  return diff + tr - 2 * covmean;
}
