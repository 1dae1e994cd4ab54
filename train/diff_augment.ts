/**
 * Differentiable augmentation of D's inputs (DiffAugment, Zhao et al. 2020): every sample D sees,
 * real or generated, in D's step and in G's, is shifted and/or has a square cut out, drawn anew
 * for each call. The ops are linear in the samples (batched matmuls with shift matrices, a mask),
 * so gradients reach G through them, and R1's penalty is taken through them to the real samples
 * (as StyleGAN2-ADA does).
 *
 * - translation: each sample moves by a whole number of rows and columns, each uniform in
 *   [-r, r] with r = round(size / 8), vacated pixels zero (the codes' mean, in latent space);
 * - cutout: a square of half the size, its centre uniform over [0, size] in each direction, is
 *   set to zero (clipped at the borders).
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../nn/rng.ts";
import type { StepNets } from "./gan_step.ts";

export const AUGMENTATIONS = ["translation", "cutout"] as const;
export type Augmentation = typeof AUGMENTATIONS[number];

/** [n, size, size] matrices that move rows by `shifts[i]` (output row r reads row r - shift). */
export function shiftMatrices(shifts: ArrayLike<number>, size: number): Float32Array {
  const m = new Float32Array(shifts.length * size * size);
  for (let i = 0; i < shifts.length; i++) {
    for (let r = 0; r < size; r++) {
      const from = r - shifts[i];
      if (from >= 0 && from < size) m[(i * size + r) * size + from] = 1;
    }
  }
  return m;
}

/** A [n, h, w, 1] mask, 0 inside each sample's square of side `side` centred on `cy`, `cx`. */
export function cutoutMask(
  cy: ArrayLike<number>,
  cx: ArrayLike<number>,
  h: number,
  w: number,
  side: number,
): Float32Array {
  const mask = new Float32Array(cy.length * h * w).fill(1);
  const half = Math.floor(side / 2);
  for (let i = 0; i < cy.length; i++) {
    const y0 = Math.max(0, cy[i] - half), y1 = Math.min(h, cy[i] - half + side);
    const x0 = Math.max(0, cx[i] - half), x1 = Math.min(w, cx[i] - half + side);
    for (let y = y0; y < y1; y++) mask.fill(0, (i * h + y) * w + x0, (i * h + y) * w + x1);
  }
  return mask;
}

/** Moves every sample of x [n, h, w, c] by (dy[i], dx[i]) pixels, zeros coming in. */
export function translate(
  x: tf.Tensor4D,
  dy: ArrayLike<number>,
  dx: ArrayLike<number>,
): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  return tf.tidy(() => {
    const rows = tf.matMul(
      tf.tensor3d(shiftMatrices(dy, h), [n, h, h]),
      tf.reshape(x, [n, h, w * c]) as tf.Tensor3D,
    );
    const byColumn = tf.reshape(tf.transpose(tf.reshape(rows, [n, h, w, c]), [0, 2, 1, 3]), [
      n,
      w,
      h * c,
    ]) as tf.Tensor3D;
    const moved = tf.matMul(tf.tensor3d(shiftMatrices(dx, w), [n, w, w]), byColumn);
    return tf.transpose(tf.reshape(moved, [n, w, h, c]), [0, 2, 1, 3]) as tf.Tensor4D;
  });
}

/**
 * `x` augmented by `policy`, its randomness drawn from `rng` in a fixed order: per sample the
 * row then column shift, then per sample the cutout's centre row then column.
 */
export function diffAugment(
  x: tf.Tensor4D,
  policy: readonly Augmentation[],
  rng: Rng,
): tf.Tensor4D {
  const [n, h, w] = x.shape;
  return tf.tidy(() => {
    let out = x;
    if (policy.includes("translation")) {
      const ry = Math.round(h / 8), rx = Math.round(w / 8);
      const dy = new Int32Array(n), dx = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        dy[i] = rng.int(2 * ry + 1) - ry;
        dx[i] = rng.int(2 * rx + 1) - rx;
      }
      out = translate(out, dy, dx);
    }
    if (policy.includes("cutout")) {
      const side = Math.round(h / 2);
      const cy = new Int32Array(n), cx = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        cy[i] = rng.int(h + 1);
        cx[i] = rng.int(w + 1);
      }
      out = tf.mul(out, tf.tensor4d(cutoutMask(cy, cx, h, w, side), [n, h, w, 1]));
    }
    return out;
  });
}

/** `nets` whose D (and lean D) see every input through `diffAugment` with draws from `rng`. */
export function augmentedNets(
  nets: StepNets,
  policy: readonly Augmentation[],
  rng: Rng,
): StepNets {
  if (!policy.length) return nets;
  const wrap = (D: StepNets["D"]): StepNets["D"] => (x, modes) =>
    D(diffAugment(x, policy, rng), modes);
  return { ...nets, D: wrap(nets.D), ...(nets.DLean ? { DLean: wrap(nets.DLean) } : {}) };
}
