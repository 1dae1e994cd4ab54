/**
 * The default GAN: a DCGAN-style generator (dense -> 4x4, then nearest-upsample + conv blocks
 * with pixelwise normalisation) and a discriminator of stride-2 conv blocks.
 */
import * as tf from "@tensorflow/tfjs";
import type { Params } from "../nn/params.ts";
import { blocks, channelsAt, type GanConfig } from "./gan_config.ts";
import { conv2d, dense, lrelu, pixelNorm } from "./layers.ts";
import { minibatchStddev } from "./progan.ts";

export function dcganG(p: Params, cfg: GanConfig, z: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const separable = cfg.conv === "separable";
    const c0 = channelsAt(cfg, 0);
    let h = tf.reshape(dense(p, "g.fc", z, 16 * c0), [-1, 4, 4, c0]) as tf.Tensor4D;
    h = pixelNorm(lrelu(h));
    h = pixelNorm(conv2d(p, "g.conv0", h, c0, { separable, lean: true, lrelu: true }));
    for (let b = 1; b <= blocks(cfg); b++) {
      const c = channelsAt(cfg, b);
      h = pixelNorm(
        conv2d(p, `g.up${b}`, h, c, { separable, lean: true, lrelu: true, upsample: true }),
      );
      h = pixelNorm(conv2d(p, `g.conv${b}`, h, c, { separable, lean: true, lrelu: true }));
    }
    const out = conv2d(p, "g.out", h, cfg.shape[2], { kernel: 1, gain: 1 });
    return cfg.tanh ? tf.tanh(out) : out;
  });
}

/**
 * `lean`: layers that keep only what a first-order backward needs (see GanCallOptions.lean).
 * `modes` (one-hot, with `conditionD`): each sample's mode, projected onto D's last features.
 */
export function dcganD(
  p: Params,
  cfg: GanConfig,
  x: tf.Tensor4D,
  lean = false,
  modes?: tf.Tensor2D,
): tf.Tensor1D {
  if (cfg.conditionD && !modes) throw new Error("a mode-conditioned D needs each sample's mode");
  return tf.tidy(() => {
    const separable = cfg.separableD ?? false;
    const n = blocks(cfg);
    const o = { separable, lean, lrelu: true };
    let h = conv2d(p, "d.in", x, channelsAt(cfg, n), { kernel: 1, lean, lrelu: true });
    for (let b = n; b >= 1; b--) {
      h = conv2d(p, `d.conv${b}`, h, channelsAt(cfg, b), o);
      h = conv2d(p, `d.down${b}`, h, channelsAt(cfg, b - 1), { ...o, stride: 2 });
    }
    if (cfg.mbstd) h = minibatchStddev(h);
    h = conv2d(p, "d.conv0", h, channelsAt(cfg, 0), o);
    const flat = tf.reshape(h, [h.shape[0], -1]) as tf.Tensor2D;
    let logit = tf.reshape(dense(p, "d.fc", flat, 1, { gain: 1 }), [-1]) as tf.Tensor1D;
    if (cfg.conditionD) {
      // The projection discriminator's term (Miyato & Koyama 2018): <embedding of the mode,
      // D's last features averaged over positions>, initialised at d.fc's scale.
      const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D;
      const f = pooled.shape[1];
      const e = p.get("d.embed", [cfg.zModes!, f], { kind: "normal", std: 1 / Math.sqrt(f) });
      logit = tf.add(logit, tf.sum(tf.mul(pooled, tf.matMul(modes!, e)), 1));
    }
    return logit;
  });
}
