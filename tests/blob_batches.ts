/** Toy training data for tests of the training loops. */
import type { BatchSource } from "../data/batch_source.ts";
import { Rng } from "../nn/rng.ts";

/** Tiny in-memory data: smooth random blobs, deterministic in (seed, step). */
export function blobs(
  shape: [number, number, number],
  batchSize: number,
  seed: number,
): BatchSource {
  const [h, w, c] = shape;
  return {
    sampleShape: shape,
    size: 1000,
    batchSize,
    batch(step: number) {
      const r = new Rng(seed * 7919 + step);
      const out = new Float32Array(batchSize * h * w * c);
      for (let i = 0; i < batchSize; i++) {
        const cx = r.uniform() * w, cy = r.uniform() * h, v = r.uniform() * 2 - 1;
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            for (let k = 0; k < c; k++) {
              out[((i * h + y) * w + x) * c + k] = Math.tanh(
                v * 2 * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 8),
              );
            }
          }
        }
      }
      return Promise.resolve(out);
    },
    close: () => Promise.resolve(),
  };
}
