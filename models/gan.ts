/**
 * The GAN families the `train-generator` stage can train, behind one pair of functions:
 * `generate` and `discriminate` dispatch on `config.arch`. Every family follows the same depth
 * rules (4x4 base, one block per resolution doubling, channels halved per block), so one
 * config describes a GAN on 8x8 codes or on 64x64 pixels alike.
 */
import * as tf from "@tensorflow/tfjs";
import type { Params } from "../nn/params.ts";
import type { Rng } from "../nn/rng.ts";
import { dcganD, dcganG } from "./dcgan.ts";
import { proganD, proganG } from "./progan.ts";
import { fastganG } from "./fastgan.ts";
import { type FeatureNet, projectedD } from "./projected_d.ts";
import { fullyGrown, type GanConfig, type Phase } from "./gan_config.ts";

export * from "./gan_config.ts";

export interface GanCallOptions {
  /** Progressive growing only; default: fully grown. */
  phase?: Phase;
  /** Seeds FastGAN's noise injection (so a step is reproducible and resumable). */
  noiseSeed?: number;
  /** The frozen feature network of a projected discriminator. */
  features?: FeatureNet;
  /**
   * D only: layers that keep just what a first-order backward needs and compute their weight
   * gradients eagerly. For D's own step without a gradient penalty, where D's weight gradients
   * are wanted; never under a penalty (second order) or in G's step (wasted weight gradients).
   * ProGAN's D always takes the standard layers.
   */
  lean?: boolean;
  /** D conditioned on modes (`conditionD`): each sample's mode, one-hot [N, zModes]. */
  modes?: tf.Tensor2D;
}

/**
 * `n` latents from G's prior: [n, latentWidth]. Each row is `zDim` standard normals and, with
 * `zModes`, a one-hot of a mode (drawn uniformly, or by `modeWeights`) scaled to the normals'
 * expected norm.
 */
export function sampleLatents(
  rng: Rng,
  n: number,
  cfg: Pick<GanConfig, "zDim" | "zModes" | "modeWeights">,
): tf.Tensor2D {
  const modes = cfg.zModes ?? 0;
  if (modes === 0) return tf.tensor2d(rng.normalArray(n * cfg.zDim), [n, cfg.zDim]);
  const width = cfg.zDim + modes, out = new Float32Array(n * width);
  const hot = modeScale(cfg.zDim);
  const draw = cfg.modeWeights ? weightedDraw(cfg.modeWeights) : (r: Rng) => r.int(modes);
  for (let i = 0; i < n; i++) {
    out.set(rng.normalArray(cfg.zDim), i * width);
    out[i * width + cfg.zDim + draw(rng)] = hot;
  }
  return tf.tensor2d(out, [n, width]);
}

/** Draws index i with probability weights[i] (one uniform per draw). */
function weightedDraw(weights: number[]): (rng: Rng) => number {
  const cumulative: number[] = [];
  weights.reduce((sum, w, i) => (cumulative[i] = sum + w), 0);
  const total = cumulative[cumulative.length - 1];
  return (rng) => {
    const u = rng.uniform() * total;
    const i = cumulative.findIndex((c) => u < c);
    return i < 0 ? weights.length - 1 : i;
  };
}

/** The modes of latents drawn by `sampleLatents`, as one-hot rows [n, zModes]. */
export function latentModes(z: tf.Tensor2D, cfg: Pick<GanConfig, "zDim" | "zModes">): tf.Tensor2D {
  const modes = cfg.zModes ?? 0;
  if (modes === 0) throw new Error("latentModes: the generator has no modes (zModes 0)");
  return tf.tidy(() => tf.div(tf.slice(z, [0, cfg.zDim], [-1, modes]), modeScale(cfg.zDim)));
}

/** The one-hot's value: the Gaussian part's expected norm, so neither part drowns the other. */
function modeScale(zDim: number): number {
  return Math.sqrt(zDim);
}

/** Samples from latents: [N, zDim] -> [N, H, W, C] (at the phase's resolution when growing). */
export function generate(
  p: Params,
  cfg: GanConfig,
  z: tf.Tensor2D,
  o: GanCallOptions = {},
): tf.Tensor4D {
  switch (cfg.arch ?? "dcgan") {
    case "dcgan":
      return dcganG(p, cfg, z);
    case "progan":
      return proganG(p, cfg, z, o.phase ?? fullyGrown(cfg));
    case "fastgan":
      return fastganG(p, cfg, z, o.noiseSeed ?? 0);
  }
}

/** One logit per sample. */
export function discriminate(
  p: Params,
  cfg: GanConfig,
  x: tf.Tensor4D,
  o: GanCallOptions = {},
): tf.Tensor1D {
  if (cfg.discriminator === "projected") {
    if (!o.features) {
      throw new Error("a projected discriminator needs a frozen feature network (features)");
    }
    return projectedD(p, cfg, x, o.features, o.lean);
  }
  if ((cfg.arch ?? "dcgan") === "progan") return proganD(p, cfg, x, o.phase ?? fullyGrown(cfg));
  return dcganD(p, cfg, x, o.lean, o.modes);
}
