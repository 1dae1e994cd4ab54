/**
 * Eigenvalues (and eigenvectors) of a symmetric matrix by Householder tridiagonalisation and
 * implicit QL (EISPACK tred2/tql2): O(n^3), where Jacobi's sweeps (fid_reference.ts) take many
 * times longer on FID's 2048 x 2048 covariances.
 */

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
