/**
 * The first stage of Liu et al. (2019): a convolutional autoencoder that turns an image into a
 * small latent code (e.g. 32x32x3 -> 8x8x4, 12x fewer numbers; 64x64x3 -> 8x8x4, 48x) and back.
 * Each conv has its own named weights [kh, kw, in, out], so channels can be pruned later.
 */
import * as tf from "@tensorflow/tfjs";
import type { Params } from "../nn/params.ts";
import { conv2d } from "./layers.ts";

export interface AutoencoderConfig {
  /** Spatial downsampling factor (a power of two). */
  factor: number;
  latentChannels: number;
  /** Channels of the first (full-resolution) layer; doubled at each downsampling, capped. */
  width: number;
  maxWidth?: number;
  imageChannels?: number;
}

export function levels(cfg: AutoencoderConfig): number {
  const n = Math.log2(cfg.factor);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`factor must be a power of two, got ${cfg.factor}`);
  }
  return n;
}

function widthAt(cfg: AutoencoderConfig, level: number): number {
  return Math.min(cfg.maxWidth ?? 256, cfg.width * 2 ** level);
}

/** The encoder's activations at each resolution, finest first (a frozen feature network). */
export function encoderFeatures(p: Params, cfg: AutoencoderConfig, x: tf.Tensor4D): tf.Tensor4D[] {
  return tf.tidy(() => {
    let h = conv2d(p, "enc.in", x, widthAt(cfg, 0), { lrelu: true });
    const feats = [h];
    for (let l = 1; l <= levels(cfg); l++) {
      h = conv2d(p, `enc.down${l}`, h, widthAt(cfg, l), { stride: 2, lrelu: true });
      h = conv2d(p, `enc.conv${l}`, h, widthAt(cfg, l), { lrelu: true });
      feats.push(h);
    }
    return feats;
  });
}

export function encode(p: Params, cfg: AutoencoderConfig, x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const feats = encoderFeatures(p, cfg, x);
    return conv2d(p, "enc.out", feats[feats.length - 1], cfg.latentChannels, {
      kernel: 1,
      gain: 1,
    });
  });
}

export function decode(p: Params, cfg: AutoencoderConfig, z: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const L = levels(cfg);
    let h = conv2d(p, "dec.in", z, widthAt(cfg, L), { lrelu: true });
    for (let l = L; l >= 1; l--) {
      // Upsample + conv in one: phase convolutions where the backend has them (models/layers.ts).
      h = conv2d(p, `dec.up${l}`, h, widthAt(cfg, l - 1), { upsample: true, lrelu: true });
      h = conv2d(p, `dec.conv${l}`, h, widthAt(cfg, l - 1), { lrelu: true });
    }
    // Linear output: a tanh saturates at the black background and stops learning (its gradient
    // vanishes where most MNIST pixels sit); images are clipped to [-1, 1] when written.
    return conv2d(p, "dec.out", h, cfg.imageChannels ?? 3, { gain: 1 });
  });
}

/** A small PatchGAN critic for the adversarial term that keeps reconstructions sharp. */
export function patchCritic(p: Params, x: tf.Tensor4D, width = 32): tf.Tensor4D {
  return tf.tidy(() => {
    let h = conv2d(p, "patch.c1", x, width, { stride: 2, lrelu: true });
    h = conv2d(p, "patch.c2", h, width * 2, { stride: 2, lrelu: true });
    return conv2d(p, "patch.out", h, 1, { gain: 1 });
  });
}
