/**
 * Sliced Wasserstein distance as in ProGAN's metrics/sliced_wasserstein.py: a Laplacian pyramid
 * (5x5 binomial kernel, scipy "mirror" borders) down to 16x16, 7x7 neighbourhoods at 128 random
 * positions per image, per-channel normalisation of each level's descriptor set, then 4 repeats
 * of 128 random unit directions; the mean |sorted(projA) - sorted(projB)|, x1e3, per level.
 */
import * as tf from "@tensorflow/tfjs";
import { hostCompute } from "../backend/host_compute.ts";
import { Rng } from "../nn/rng.ts";
import { RowSorters } from "./sorted_rows.ts";

/** NHWC images with values in [0, 255] (uint8 or float). */
export interface ImageSet {
  data: Uint8Array | Float32Array;
  n: number;
  h: number;
  w: number;
  c: number;
}

const KERNEL = [1, 4, 6, 4, 1];

/** scipy.ndimage "mirror": reflect about the edge pixel centre (d c b | a b c d | c b a). */
function mirror(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  i = ((i % period) + period) % period;
  return i < n ? i : period - i;
}

/** Separable 5x5 binomial filter (weights /256 * scale) of one HxW plane. */
function blur(src: Float32Array, h: number, w: number, scale: number): Float32Array {
  const tmp = new Float32Array(h * w);
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let k = 0; k < 5; k++) s += KERNEL[k] * src[y * w + mirror(x + k - 2, w)];
      tmp[y * w + x] = s / 16;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let k = 0; k < 5; k++) s += KERNEL[k] * tmp[mirror(y + k - 2, h) * w + x];
      out[y * w + x] = (s / 16) * scale;
    }
  }
  return out;
}

/** Planes in NCHW order (one Float32Array per image and channel) for the pyramid maths. */
type Planes = { planes: Float32Array[]; h: number; w: number };

function toPlanes(s: ImageSet): Planes {
  const planes: Float32Array[] = [];
  for (let i = 0; i < s.n; i++) {
    for (let c = 0; c < s.c; c++) {
      const p = new Float32Array(s.h * s.w);
      for (let k = 0; k < s.h * s.w; k++) p[k] = s.data[(i * s.h * s.w + k) * s.c + c];
      planes.push(p);
    }
  }
  return { planes, h: s.h, w: s.w };
}

function pyrDown(p: Planes): Planes {
  const h = Math.ceil(p.h / 2), w = Math.ceil(p.w / 2);
  return {
    planes: p.planes.map((pl) => {
      const b = blur(pl, p.h, p.w, 1);
      const out = new Float32Array(h * w);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) out[y * w + x] = b[2 * y * p.w + 2 * x];
      }
      return out;
    }),
    h,
    w,
  };
}

function pyrUp(p: Planes): Planes {
  const h = p.h * 2, w = p.w * 2;
  return {
    planes: p.planes.map((pl) => {
      const z = new Float32Array(h * w);
      for (let y = 0; y < p.h; y++) {
        for (let x = 0; x < p.w; x++) z[2 * y * w + 2 * x] = pl[y * p.w + x];
      }
      return blur(z, h, w, 4);
    }),
    h,
    w,
  };
}

/** Levels from full resolution down; all but the last are band-pass (Laplacian). */
export function laplacianPyramid(s: ImageSet, levels: number): Planes[] {
  const pyr = [toPlanes(s)];
  for (let i = 1; i < levels; i++) {
    pyr.push(pyrDown(pyr[i - 1]));
    const up = pyrUp(pyr[i]);
    pyr[i - 1].planes.forEach((pl, k) => {
      for (let j = 0; j < pl.length; j++) pl[j] -= up.planes[k][j];
    });
  }
  return pyr;
}

/** 7x7xC neighbourhoods at the given (image, y, x) centres: rows of length C*49 (c, dy, dx order). */
export function descriptors(
  level: Planes,
  channels: number,
  centres: Int32Array,
  nhood = 7,
): Float32Array {
  const half = nhood >> 1;
  const count = centres.length / 3;
  const d = channels * nhood * nhood;
  const out = new Float32Array(count * d);
  for (let i = 0; i < count; i++) {
    const img = centres[3 * i], cy = centres[3 * i + 1], cx = centres[3 * i + 2];
    for (let c = 0; c < channels; c++) {
      const pl = level.planes[img * channels + c];
      for (let dy = -half; dy <= half; dy++) {
        for (let dx = -half; dx <= half; dx++) {
          out[i * d + c * nhood * nhood + (dy + half) * nhood + dx + half] =
            pl[(cy + dy) * level.w + cx + dx];
        }
      }
    }
  }
  return out;
}

/** Random centres like ProGAN: 128 per image, at least `half` pixels from the border. */
export function randomCentres(
  rng: Rng,
  n: number,
  h: number,
  w: number,
  perImage = 128,
  half = 3,
): Int32Array {
  const out = new Int32Array(n * perImage * 3);
  for (let i = 0; i < n * perImage; i++) {
    out[3 * i] = Math.floor(i / perImage);
    out[3 * i + 1] = half + rng.int(h - 2 * half);
    out[3 * i + 2] = half + rng.int(w - 2 * half);
  }
  return out;
}

/** Subtracts each channel's mean and divides by its std over all descriptors of the set. */
export function normaliseDescriptors(desc: Float32Array, channels: number): void {
  const per = 49;
  const rowLen = channels * per;
  const rows = desc.length / rowLen;
  for (let c = 0; c < channels; c++) {
    let sum = 0, sq = 0;
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < per; k++) {
        const v = desc[r * rowLen + c * per + k];
        sum += v;
        sq += v * v;
      }
    }
    const count = rows * per;
    const mean = sum / count;
    const std = Math.sqrt(Math.max(sq / count - mean * mean, 0));
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < per; k++) {
        const i = r * rowLen + c * per + k;
        desc[i] = (desc[i] - mean) / std;
      }
    }
  }
}

/** Mean over directions of mean |sort(A.dir) - sort(B.dir)|; `dirs` is [dim, count], unit columns. */
export async function slicedDistance(
  a: Float32Array,
  b: Float32Array,
  dim: number,
  dirs: Float32Array,
  count: number,
): Promise<number> {
  return (await slicedDistances(a, [b], dim, dirs, count))[0];
}

/**
 * `slicedDistance(a, b)` for each b of `bs`, projecting and sorting `a` once: each value is the
 * one the single call gives (the same operations, summed in the same order). `sorters` (made and
 * closed here when not given) sort the directions on every core.
 */
export async function slicedDistances(
  a: Float32Array,
  bs: Float32Array[],
  dim: number,
  dirs: Float32Array,
  count: number,
  sorters?: RowSorters,
): Promise<number[]> {
  const na = a.length / dim;
  for (const b of bs) {
    const nb = b.length / dim;
    if (na !== nb) throw new Error(`SWD needs equal descriptor counts (${na} vs ${nb})`);
  }
  const projections = [a, ...bs].map((desc) => project(desc, dim, dirs, count));
  const own = sorters ? null : new RowSorters();
  try {
    const [pa, ...pbs] = projections.map((t) => t.dataSync() as Float32Array);
    return await (sorters ?? own!).meanDistances(pa, pbs, na);
  } finally {
    tf.dispose(projections);
    own?.close();
  }
}

/**
 * Projections of the [n, dim] rows of `desc` on the [dim, count] directions, as [count, n]: each
 * direction's values are one contiguous row. A host tensor (tfjs's cpu backend on a GPU one).
 */
function project(desc: Float32Array, dim: number, dirs: Float32Array, count: number): tf.Tensor {
  const n = desc.length / dim;
  // Host arrays in and out: on a GPU backend this runs on tfjs's cpu backend (hostCompute).
  return hostCompute(() =>
    tf.tidy(() =>
      tf.matMul(tf.tensor2d(dirs, [dim, count]), tf.tensor2d(desc, [n, dim]), true, true)
    )
  );
}

export function randomDirections(rng: Rng, dim: number, count: number): Float32Array {
  const d = rng.normalArray(dim * count); // [dim, count]
  for (let j = 0; j < count; j++) {
    let s = 0;
    for (let i = 0; i < dim; i++) s += d[i * count + j] ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let i = 0; i < dim; i++) d[i * count + j] *= inv;
  }
  return d;
}

export interface SwdOptions {
  seed?: number;
  patchesPerImage?: number;
  dirsPerRepeat?: number;
  repeats?: number;
  minResolution?: number;
}

export interface SwdResult {
  levels: { resolution: number; swd: number }[];
  average: number;
}

export async function slicedWassersteinDistance(
  real: ImageSet,
  fake: ImageSet,
  opts: SwdOptions = {},
): Promise<SwdResult> {
  return (await slicedWassersteinDistances(real, [fake], opts))[0];
}

/**
 * `slicedWassersteinDistance(real, fake, opts)` for each of `fakes` (each the same size and count
 * as `real`), with the real side's pyramid, patches, projections and sorts made once. The seed
 * draws the same real patches, fake patch positions and directions for every fake, as separate
 * calls would, so each result equals its single call's.
 */
export async function slicedWassersteinDistances(
  real: ImageSet,
  fakes: ImageSet[],
  opts: SwdOptions = {},
): Promise<SwdResult[]> {
  // At most this many fakes' descriptors and projections in memory at once (~140 MB each per
  // 1000 images).
  const group = 3;
  if (fakes.length > group) {
    const out: SwdResult[] = [];
    for (let i = 0; i < fakes.length; i += group) {
      out.push(...await slicedWassersteinDistances(real, fakes.slice(i, i + group), opts));
    }
    return out;
  }
  for (const fake of fakes) {
    if (real.h !== fake.h || real.w !== fake.w || real.c !== fake.c) {
      throw new Error("SWD: real and fake images must have the same size");
    }
    if (real.n !== fake.n) throw new Error(`SWD needs equal image counts (${real.n} vs ${fake.n})`);
  }
  const rng = new Rng(opts.seed ?? 0);
  const resolutions: number[] = [];
  for (let r = real.h; r >= (opts.minResolution ?? 16); r = Math.floor(r / 2)) resolutions.push(r);
  if (resolutions.length === 0) resolutions.push(real.h);
  const pr = laplacianPyramid(real, resolutions.length);
  const pfs = fakes.map((fake) => laplacianPyramid(fake, resolutions.length));
  const per = opts.patchesPerImage ?? 128;
  const sorters = new RowSorters();
  const levels: { resolution: number; swd: number }[][] = [];
  try {
    for (const [l, resolution] of resolutions.entries()) {
      levels.push(await levelDistances(l, resolution));
    }
  } finally {
    sorters.close();
  }
  return fakes.map((_, k) => {
    const own = levels.map((l) => l[k]);
    return { levels: own, average: own.reduce((s, l) => s + l.swd, 0) / own.length };
  });

  async function levelDistances(l: number, resolution: number) {
    const da = descriptors(pr[l], real.c, randomCentres(rng, real.n, pr[l].h, pr[l].w, per));
    const fakeCentres = randomCentres(rng, real.n, pr[l].h, pr[l].w, per);
    const dbs = pfs.map((pf) => descriptors(pf[l], real.c, fakeCentres));
    normaliseDescriptors(da, real.c);
    for (const db of dbs) normaliseDescriptors(db, real.c);
    const dim = real.c * 49;
    const sums = fakes.map(() => 0);
    const repeats = opts.repeats ?? 4;
    const count = opts.dirsPerRepeat ?? 128;
    for (let r = 0; r < repeats; r++) {
      const dirs = randomDirections(rng, dim, count);
      const d = await slicedDistances(da, dbs, dim, dirs, count, sorters);
      d.forEach((v, k) => sums[k] += v);
    }
    return sums.map((sum) => ({ resolution, swd: (sum / repeats) * 1e3 }));
  }
}
