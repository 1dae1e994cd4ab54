/**
 * MS-SSIM as in ProGAN's metrics/ms_ssim.py: 11x11 Gaussian window (sigma 1.5, shrunk to the image
 * when smaller), K1 0.01, K2 0.03, 5 scales with the published weights, 2x2 average pooling between
 * scales, 'valid' filtering; per image pair, contrast-structure terms of the first 4 scales times
 * the SSIM of the last, each clipped at 0. Images NHWC in [0, maxVal].
 */

export const MS_SSIM_WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];

export interface Images {
  data: Float64Array | Float32Array | Uint8Array;
  n: number;
  h: number;
  w: number;
  c: number;
}

/** ProGAN's _FSpecialGauss: a normalised size x size Gaussian, centred between pixels for even sizes. */
export function gaussianWindow(size: number, sigma: number): Float64Array {
  const radius = Math.floor(size / 2);
  const offset = size % 2 === 0 ? 0.5 : 0;
  const start = -radius, stop = size % 2 === 0 ? radius : radius + 1;
  const g = new Float64Array(size * size);
  let sum = 0, k = 0;
  for (let x = offset + start; x < stop; x++) {
    for (let y = offset + start; y < stop; y++) {
      g[k] = Math.exp(-((x * x + y * y) / (2 * sigma * sigma)));
      sum += g[k++];
    }
  }
  for (let i = 0; i < g.length; i++) g[i] /= sum;
  return g;
}

/** 'valid' 2-D filtering of every (image, channel) plane: [n, h-s+1, w-s+1, c]. */
function filterValid(
  x: Float64Array,
  n: number,
  h: number,
  w: number,
  c: number,
  win: Float64Array,
  s: number,
) {
  const oh = h - s + 1, ow = w - s + 1;
  const out = new Float64Array(n * oh * ow * c);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < oh; y++) {
      for (let xx = 0; xx < ow; xx++) {
        for (let ch = 0; ch < c; ch++) {
          let acc = 0;
          for (let dy = 0; dy < s; dy++) {
            for (let dx = 0; dx < s; dx++) {
              acc += win[dy * s + dx] * x[((i * h + y + dy) * w + xx + dx) * c + ch];
            }
          }
          out[((i * oh + y) * ow + xx) * c + ch] = acc;
        }
      }
    }
  }
  return out;
}

/** Per-image SSIM and contrast-structure at one scale. */
export function ssimAtScale(
  a: Float64Array,
  b: Float64Array,
  n: number,
  h: number,
  w: number,
  c: number,
  maxVal = 255,
): { ssim: Float64Array; cs: Float64Array } {
  const size = Math.min(11, h, w);
  const sigma = (size * 1.5) / 11;
  const win = gaussianWindow(size, sigma);
  const prod = (p: Float64Array, q: Float64Array) => p.map((v, i) => v * q[i]);
  const mu1 = filterValid(a, n, h, w, c, win, size);
  const mu2 = filterValid(b, n, h, w, c, win, size);
  const s11 = filterValid(prod(a, a), n, h, w, c, win, size);
  const s22 = filterValid(prod(b, b), n, h, w, c, win, size);
  const s12 = filterValid(prod(a, b), n, h, w, c, win, size);
  const c1 = (0.01 * maxVal) ** 2, c2 = (0.03 * maxVal) ** 2;
  const per = mu1.length / n;
  const ssim = new Float64Array(n), cs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sSum = 0, cSum = 0;
    for (let k = i * per; k < (i + 1) * per; k++) {
      const m11 = mu1[k] * mu1[k], m22 = mu2[k] * mu2[k], m12 = mu1[k] * mu2[k];
      const v1 = 2 * (s12[k] - m12) + c2;
      const v2 = (s11[k] - m11) + (s22[k] - m22) + c2;
      sSum += ((2 * m12 + c1) * v1) / ((m11 + m22 + c1) * v2);
      cSum += v1 / v2;
    }
    ssim[i] = sSum / per;
    cs[i] = cSum / per;
  }
  return { ssim, cs };
}

function downsample(x: Float64Array, n: number, h: number, w: number, c: number) {
  const oh = Math.floor(h / 2), ow = Math.floor(w / 2);
  const out = new Float64Array(n * oh * ow * c);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < oh; y++) {
      for (let xx = 0; xx < ow; xx++) {
        for (let ch = 0; ch < c; ch++) {
          const at = (yy: number, xz: number) => x[((i * h + yy) * w + xz) * c + ch];
          out[((i * oh + y) * ow + xx) * c + ch] =
            (at(2 * y, 2 * xx) + at(2 * y + 1, 2 * xx) + at(2 * y, 2 * xx + 1) +
              at(2 * y + 1, 2 * xx + 1)) * 0.25;
        }
      }
    }
  }
  return { x: out, h: oh, w: ow };
}

/** Mean MS-SSIM over corresponding image pairs of `a` and `b`. */
export function msSsim(a: Images, b: Images, maxVal = 255): number {
  if (a.n !== b.n || a.h !== b.h || a.w !== b.w || a.c !== b.c) {
    throw new Error("MS-SSIM: image sets differ in shape");
  }
  let x1 = Float64Array.from(a.data), x2 = Float64Array.from(b.data);
  let h = a.h, w = a.w;
  const levels = MS_SSIM_WEIGHTS.length;
  const ssims: Float64Array[] = [], css: Float64Array[] = [];
  for (let l = 0; l < levels; l++) {
    const r = ssimAtScale(x1, x2, a.n, h, w, a.c, maxVal);
    ssims.push(r.ssim);
    css.push(r.cs);
    const d1 = downsample(x1, a.n, h, w, a.c), d2 = downsample(x2, a.n, h, w, a.c);
    x1 = d1.x;
    x2 = d2.x;
    h = d1.h;
    w = d1.w;
  }
  let total = 0;
  for (let i = 0; i < a.n; i++) {
    let v = Math.max(ssims[levels - 1][i], 0) ** MS_SSIM_WEIGHTS[levels - 1];
    for (let l = 0; l < levels - 1; l++) v *= Math.max(css[l][i], 0) ** MS_SSIM_WEIGHTS[l];
    total += v;
  }
  return total / a.n;
}

/** ProGAN's diversity score: mean MS-SSIM between consecutive pairs (0,1), (2,3), ... of one set. */
export function msSsimConsecutivePairs(s: Images, maxVal = 255): number {
  const pairs = Math.floor(s.n / 2);
  const per = s.h * s.w * s.c;
  const even = new Float64Array(pairs * per), odd = new Float64Array(pairs * per);
  for (let p = 0; p < pairs; p++) {
    even.set(Float64Array.from(s.data.subarray(2 * p * per, (2 * p + 1) * per)), p * per);
    odd.set(Float64Array.from(s.data.subarray((2 * p + 1) * per, (2 * p + 2) * per)), p * per);
  }
  return msSsim({ ...s, n: pairs, data: even }, { ...s, n: pairs, data: odd }, maxVal);
}
