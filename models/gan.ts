/**
 * The code/pixel GAN: a DCGAN-style generator (dense -> 4x4, then nearest-upsample + conv
 * blocks with pixelwise normalisation) and a discriminator of stride-2 conv blocks. Depth follows
 * the spatial size in both spaces ("same depth rules"), so a GAN on 8x8 codes and one on 32x32
 * images differ only by the number of resolution-doubling blocks and the channel counts.
 */
import * as tf from "@tensorflow/tfjs";
import type { Params } from "../nn/params.ts";
import { conv2d, dense, lrelu, pixelNorm, upsample2x } from "./layers.ts";

export interface GanConfig {
  /** Output sample size: [H, W, C] (codes: e.g. [8, 8, 4]; pixels: [32, 32, 3]). */
  shape: [number, number, number];
  zDim: number;
  /** Channels at 4x4; halved per doubling, not below `minChannels`. */
  baseChannels: number;
  minChannels?: number;
  /** Bound G's output with tanh (images in [-1, 1]); codes are left linear. */
  tanh: boolean;
}

export function blocks(cfg: GanConfig): number {
  const n = Math.log2(cfg.shape[0] / 4);
  if (!Number.isInteger(n) || n < 0 || cfg.shape[0] !== cfg.shape[1]) {
    throw new Error(`GAN sample size must be square, a power of two >= 4: got ${cfg.shape}`);
  }
  return n;
}

export function channelsAt(cfg: GanConfig, block: number): number {
  return Math.max(cfg.minChannels ?? 16, Math.floor(cfg.baseChannels / 2 ** block));
}

export function generate(p: Params, cfg: GanConfig, z: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const c0 = channelsAt(cfg, 0);
    let h = tf.reshape(dense(p, "g.fc", z, 16 * c0), [-1, 4, 4, c0]) as tf.Tensor4D;
    h = pixelNorm(lrelu(h));
    h = pixelNorm(lrelu(conv2d(p, "g.conv0", h, c0)));
    for (let b = 1; b <= blocks(cfg); b++) {
      h = pixelNorm(lrelu(conv2d(p, `g.up${b}`, upsample2x(h), channelsAt(cfg, b))));
      h = pixelNorm(lrelu(conv2d(p, `g.conv${b}`, h, channelsAt(cfg, b))));
    }
    const out = conv2d(p, "g.out", h, cfg.shape[2], { kernel: 1, gain: 1 });
    return cfg.tanh ? tf.tanh(out) : out;
  });
}

/** Logits, one per sample. */
export function discriminate(p: Params, cfg: GanConfig, x: tf.Tensor4D): tf.Tensor1D {
  return tf.tidy(() => {
    const n = blocks(cfg);
    let h = lrelu(conv2d(p, "d.in", x, channelsAt(cfg, n), { kernel: 1 }));
    for (let b = n; b >= 1; b--) {
      h = lrelu(conv2d(p, `d.conv${b}`, h, channelsAt(cfg, b)));
      h = lrelu(conv2d(p, `d.down${b}`, h, channelsAt(cfg, b - 1), { stride: 2 }));
    }
    h = lrelu(conv2d(p, "d.conv0", h, channelsAt(cfg, 0)));
    const flat = tf.reshape(h, [h.shape[0], -1]) as tf.Tensor2D;
    return tf.reshape(dense(p, "d.fc", flat, 1, { gain: 1 }), [-1]) as tf.Tensor1D;
  });
}
