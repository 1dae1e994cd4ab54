/**
 * Feature rows (n x d, row-major: one Inception feature vector per image) as FID and KID use
 * them: products of rows, centring, mean and covariance.
 */

export type Rows = Float32Array | Float64Array;

/** out[i][j] = sum_k x[i][k] y[j][k] (rows of x against rows of y). */
export function rowProducts(x: Float64Array, nx: number, y: Float64Array, ny: number, d: number) {
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

/** Rows minus their mean, the mean, and the trace of their (unbiased) covariance. */
export function centred(x: Rows, n: number, d: number) {
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

/** Mean and covariance (np.cov, rowvar=False: unbiased) of n feature rows of length d. */
export function meanCov(x: Float64Array | Float32Array, n: number, d: number) {
  const mu = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mu[j] += x[i * d + j] / n;
  const cov = new Float64Array(d * d);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < d; a++) {
      const da = x[i * d + a] - mu[a];
      for (let b = a; b < d; b++) cov[a * d + b] += da * (x[i * d + b] - mu[b]);
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) cov[b * d + a] = cov[a * d + b] = cov[a * d + b] / (n - 1);
  }
  return { mu, cov };
}
