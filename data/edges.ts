/**
 * Edge maps for the conditional task of the compress feature (edges -> image): the Sobel
 * gradient magnitude of an image's luma, thresholded. Border pixels are replicated (scipy's
 * mode "nearest"). Images are NHWC floats in [-1, 1]; an edge map is NHW1 with +1 on edges and
 * -1 elsewhere (the same [-1, 1] convention as images).
 */

/** Luma (BT.601 weights; a single channel is taken as is) in [0, 1], one value per pixel. */
export function luma(images: Float32Array, channels: number): Float32Array {
  const n = images.length / channels;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * channels;
    const v = channels === 1
      ? images[o]
      : 0.299 * images[o] + 0.587 * images[o + 1] + 0.114 * images[o + 2];
    out[i] = (v + 1) / 2;
  }
  return out;
}

/** Sobel gradient magnitude sqrt(gx^2 + gy^2) of each [h, w] plane of `grey` ([n, h, w]). */
export function sobelMagnitude(grey: Float32Array, h: number, w: number): Float32Array {
  const n = grey.length / (h * w);
  const out = new Float32Array(grey.length);
  const clampY = (y: number) => Math.min(h - 1, Math.max(0, y));
  const clampX = (x: number) => Math.min(w - 1, Math.max(0, x));
  for (let i = 0; i < n; i++) {
    const base = i * h * w;
    const at = (y: number, x: number) => grey[base + clampY(y) * w + clampX(x)];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const gx = at(y - 1, x + 1) + 2 * at(y, x + 1) + at(y + 1, x + 1) -
          at(y - 1, x - 1) - 2 * at(y, x - 1) - at(y + 1, x - 1);
        const gy = at(y + 1, x - 1) + 2 * at(y + 1, x) + at(y + 1, x + 1) -
          at(y - 1, x - 1) - 2 * at(y - 1, x) - at(y - 1, x + 1);
        out[base + y * w + x] = Math.sqrt(gx * gx + gy * gy);
      }
    }
  }
  return out;
}

/** Edge maps (+1 where the Sobel magnitude of the luma exceeds `threshold`, else -1), NHW1. */
export function sobelEdges(
  images: Float32Array,
  shape: readonly [number, number, number],
  threshold: number,
): Float32Array {
  const [h, w, c] = shape;
  const mag = sobelMagnitude(luma(images, c), h, w);
  return mag.map((m) => (m > threshold ? 1 : -1));
}
