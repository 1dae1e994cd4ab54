/**
 * FID and KID from Inception features, fast enough for a stage: the same quantities as
 * frechet.ts / kid.ts (which keep the textbook formulas and their tests), computed another way.
 *
 * FID = |mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr (S1 S2)^1/2. With A, B the centred feature rows
 * (n1 x d, n2 x d), S1 S2 = A'A B'B / c has the same non-zero eigenvalues as M M' with
 * M = A B' / sqrt((n1-1)(n2-1)), so tr (S1 S2)^1/2 is the sum of the square roots of the
 * eigenvalues of an n x n matrix (n = min(n1, n2)) when n <= d: exact for the rank-deficient
 * covariances of fewer images than dimensions, where scipy's sqrtm needs its 1e-6 fallback. With
 * more images than dimensions it is the d x d S1^1/2 S2 S1^1/2 instead. Eigenvalues come from
 * Householder tridiagonalisation and implicit QL (EISPACK tred2/tql2), O(n^3) instead of Jacobi's
 * sweeps, and 1000 x 2048 features take seconds.
 *
 * KID: the unbiased MMD^2 with the cubic kernel averaged over random subsets, drawn exactly as
 * kid.ts draws them (same Rng calls), from kernel matrices computed once instead of per subset.
 */
import { Rng } from "../nn/rng.ts";
import { meanCov } from "./frechet.ts";

type Rows = Float32Array | Float64Array;

/**
 * Householder reduction of a symmetric n x n matrix (row-major, overwritten) to tridiagonal
 * form: diagonal `d`, sub-diagonal `e` (e[0] = 0). With `vectors`, `a` ends as the transposed
 * orthogonal transform (rows). The working copy is kept transposed relative to EISPACK's
 * column-oriented loops so every inner loop walks memory contiguously.
 */
function tridiagonalize(
  w: Float64Array,
  n: number,
  d: Float64Array,
  e: Float64Array,
  vectors: boolean,
) {
  // w[r * n + c] plays the role of EISPACK's V[c][r].
  for (let j = 0; j < n; j++) d[j] = w[j * n + (n - 1)];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0, h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = w[j * n + (i - 1)];
        w[j * n + i] = 0;
        w[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        w[i * n + j] = f; // V[j][i]
        const row = j * n;
        g = e[j] + w[row + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          const v = w[row + k]; // V[k][j]
          g += v * d[k];
          e[k] += v * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        const row = j * n;
        for (let k = j; k <= i - 1; k++) w[row + k] -= f * e[k] + g * d[k];
        d[j] = w[j * n + (i - 1)];
        w[j * n + i] = 0; // V[i][j]
      }
    }
    d[i] = h;
  }
  if (vectors) {
    for (let i = 0; i < n - 1; i++) {
      w[i * n + (n - 1)] = w[i * n + i]; // V[n-1][i] = V[i][i]
      w[i * n + i] = 1;
      const h = d[i + 1];
      const hv = (i + 1) * n; // V[k][i+1] = w[(i+1) * n + k]
      if (h !== 0) {
        for (let k = 0; k <= i; k++) d[k] = w[hv + k] / h;
        for (let j = 0; j <= i; j++) {
          let g = 0;
          const row = j * n;
          for (let k = 0; k <= i; k++) g += w[hv + k] * w[row + k];
          for (let k = 0; k <= i; k++) w[row + k] -= g * d[k];
        }
      }
      for (let k = 0; k <= i; k++) w[hv + k] = 0;
    }
    for (let j = 0; j < n; j++) {
      d[j] = w[j * n + (n - 1)];
      w[j * n + (n - 1)] = 0;
    }
    w[(n - 1) * n + (n - 1)] = 1;
  } else {
    for (let j = 0; j < n; j++) d[j] = w[j * n + j]; // the reduced matrix's diagonal
  }
  e[0] = 0;
}

/**
 * Implicit QL on the tridiagonal (d, e); eigenvalues land in d. With `w` (from tridiagonalize
 * with vectors), its rows are rotated into the eigenvectors.
 */
function tridiagonalQl(d: Float64Array, e: Float64Array, n: number, w: Float64Array | null) {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0, tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]) > eps * tst1) m++;
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 100) throw new Error("symmetric eigenvalues: QL did not converge");
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1, c2 = c, c3 = c, s = 0, s2 = 0;
        const el1 = e[l + 1];
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          if (w) {
            const ri = i * n, rj = (i + 1) * n;
            for (let k = 0; k < n; k++) {
              const t = w[rj + k];
              w[rj + k] = s * w[ri + k] + c * t;
              w[ri + k] = c * w[ri + k] - s * t;
            }
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
}

/** Eigenvalues of a symmetric n x n matrix (row-major; not modified), unsorted. */
export function symmetricEigenvalues(a: Float64Array, n: number): Float64Array {
  if (n === 0) return new Float64Array(0);
  const w = Float64Array.from(a), d = new Float64Array(n), e = new Float64Array(n);
  tridiagonalize(w, n, d, e, false);
  tridiagonalQl(d, e, n, null);
  return d;
}

/** Eigenvalues and eigenvectors (row k of `vectors` belongs to values[k]) of a symmetric matrix. */
export function symmetricEigenDecomposition(a: Float64Array, n: number) {
  const w = Float64Array.from(a), d = new Float64Array(n), e = new Float64Array(n);
  tridiagonalize(w, n, d, e, true);
  tridiagonalQl(d, e, n, w);
  return { values: d, vectors: w };
}

/** out[i][j] = sum_k x[i][k] y[j][k] (rows of x against rows of y). */
function rowProducts(x: Float64Array, nx: number, y: Float64Array, ny: number, d: number) {
  const out = new Float64Array(nx * ny);
  const same = x === y && nx === ny;
  for (let i = 0; i < nx; i++) {
    const xi = i * d;
    for (let j = same ? i : 0; j < ny; j++) {
      const yj = j * d;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0, k = 0;
      for (; k + 3 < d; k += 4) {
        s0 += x[xi + k] * y[yj + k];
        s1 += x[xi + k + 1] * y[yj + k + 1];
        s2 += x[xi + k + 2] * y[yj + k + 2];
        s3 += x[xi + k + 3] * y[yj + k + 3];
      }
      for (; k < d; k++) s0 += x[xi + k] * y[yj + k];
      out[i * ny + j] = s0 + s1 + s2 + s3;
      if (same) out[j * ny + i] = out[i * ny + j];
    }
  }
  return out;
}

function centred(x: Rows, n: number, d: number) {
  const mu = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) mu[k] += x[i * d + k];
  for (let k = 0; k < d; k++) mu[k] /= n;
  const c = new Float64Array(n * d);
  let trace = 0;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) {
      const v = x[i * d + k] - mu[k];
      c[i * d + k] = v;
      trace += v * v;
    }
  }
  return { mu, c, trace: trace / (n - 1) };
}

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

/** (x.y / d + 1)^3 for all row pairs. */
function cubicKernel(x: Rows, nx: number, y: Rows, ny: number, d: number): Float64Array {
  const xs = x instanceof Float64Array ? x : Float64Array.from(x);
  const ys = x === y ? xs : (y instanceof Float64Array ? y : Float64Array.from(y));
  const k = rowProducts(xs, nx, ys, ny, d);
  for (let i = 0; i < k.length; i++) k[i] = (k[i] / d + 1) ** 3;
  return k;
}

/**
 * KID as kid.ts's kernelInceptionDistance (same subsets from the same seed, same unbiased
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
