/**
 * A projected discriminator (Sauer et al. 2021): images pass a frozen feature network; its
 * multi-scale features are mixed by frozen random 1x1 projections (cross-channel mixing) and a
 * top-down sum (a parameter-free form of cross-scale mixing); a small trainable discriminator
 * per scale judges each, and the logits add up. The paper's feature network is a pretrained
 * EfficientNet; ours is whatever `FeatureNet` is given (e.g. the trained autoencoder's encoder).
 */
import * as tf from "@tensorflow/tfjs";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import type { GanConfig } from "./gan_config.ts";
import { conv2d } from "./layers.ts";
import { upsample2x } from "./upsample.ts";
import { offTape } from "../backend/ops/off_tape.ts";

/** Frozen multi-scale features of images, finest first, each half the size of the previous. */
export type FeatureNet = (x: tf.Tensor4D) => tf.Tensor4D[];

/**
 * Wraps a frozen feature extractor with frozen random channel projections (to `channels` each)
 * and top-down scale mixing. The projections come from `seed` and are never trained. On data (real
 * images, or fakes under D's step) nothing is recorded for backprop: only D's heads train.
 */
export function projectFeatures(extract: FeatureNet, seed: number, channels = 64): FeatureNet {
  const proj = new Params(new Rng(seed), false);
  return (x) =>
    offTape(x, () =>
      tf.tidy(() => {
        const feats = extract(x).map((f, i) => conv2d(proj, `ccm${i}`, f, channels, { kernel: 1 }));
        for (let i = feats.length - 2; i >= 0; i--) {
          const up = upsample2x(feats[i + 1]);
          if (up.shape[1] === feats[i].shape[1]) feats[i] = tf.add(feats[i], up);
        }
        return feats;
      }));
}

/** `lean`: heads that keep only what a first-order backward needs (see GanCallOptions.lean). */
export function projectedD(
  p: Params,
  cfg: GanConfig,
  x: tf.Tensor4D,
  features: FeatureNet,
  lean = false,
): tf.Tensor1D {
  return tf.tidy(() => {
    const separable = cfg.separableD ?? false;
    const logits = features(x).map((f, s) => {
      let h = f;
      for (let i = 0; h.shape[1] > 4; i++) {
        h = conv2d(p, `d.s${s}.down${i}`, h, 64, { stride: 2, separable, lean, lrelu: true });
      }
      // Mean of the patch logits: one number per sample and scale.
      return tf.mean(conv2d(p, `d.s${s}.out`, h, 1, { kernel: 1, gain: 1 }), [1, 2, 3]);
    });
    return tf.addN(logits) as tf.Tensor1D;
  });
}
