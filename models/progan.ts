/**
 * ProGAN (Karras et al. 2017): G and D grow from 4x4 by resolution doubling. While a new block
 * fades in, the output is lerp(old path, new block, alpha). Every layer uses the equalized
 * learning rate, G normalises each pixel's features, and D's last block sees the minibatch
 * standard deviation as an extra channel. Weights of every resolution exist from the start
 * (so checkpoints and EMA cover them); a phase uses only those up to its level.
 */
import * as tf from "@tensorflow/tfjs";
import type { Params } from "../nn/params.ts";
import { channelsAt, type GanConfig, type Phase } from "./gan_config.ts";
import { boxDownsample, conv2d, dense, downsample2x, lerp, lrelu, pixelNorm } from "./layers.ts";
import { upsample2x } from "./upsample.ts";

const eq = { equalized: true } as const;

/** The 4x4 base: ProGAN's dense layer (gain sqrt(2)/4, as in the paper's code) and a conv. */
function gBase(p: Params, cfg: GanConfig, z: tf.Tensor2D): tf.Tensor4D {
  const c0 = channelsAt(cfg, 0);
  const fc = dense(p, "g.fc", pixelNorm(z), 16 * c0, { ...eq, gain: Math.SQRT2 / 4 });
  const h = pixelNorm(lrelu(tf.reshape(fc, [-1, 4, 4, c0]) as tf.Tensor4D));
  return pixelNorm(
    conv2d(p, "g.conv0", h, c0, {
      ...eq,
      separable: cfg.conv === "separable",
      lean: true,
      lrelu: true,
    }),
  );
}

function gBlock(p: Params, cfg: GanConfig, b: number, h: tf.Tensor4D): tf.Tensor4D {
  const c = channelsAt(cfg, b);
  const separable = cfg.conv === "separable";
  h = pixelNorm(
    conv2d(p, `g.block${b}.conv0`, h, c, {
      upsample: true,
      ...eq,
      separable,
      lean: true,
      lrelu: true,
    }),
  );
  return pixelNorm(
    conv2d(p, `g.block${b}.conv1`, h, c, { ...eq, separable, lean: true, lrelu: true }),
  );
}

function toRgb(p: Params, cfg: GanConfig, b: number, h: tf.Tensor4D): tf.Tensor4D {
  return conv2d(p, `g.rgb${b}`, h, cfg.shape[2], { ...eq, kernel: 1, gain: 1 });
}

/** Samples at resolution 4 * 2^phase.level. */
export function proganG(p: Params, cfg: GanConfig, z: tf.Tensor2D, phase: Phase): tf.Tensor4D {
  return tf.tidy(() => {
    let h = gBase(p, cfg, z);
    let prev: tf.Tensor4D | null = null;
    for (let b = 1; b <= phase.level; b++) {
      prev = h;
      h = gBlock(p, cfg, b, h);
    }
    let out = toRgb(p, cfg, phase.level, h);
    if (prev && phase.alpha < 1) {
      out = lerp(upsample2x(toRgb(p, cfg, phase.level - 1, prev)), out, phase.alpha);
    }
    return cfg.tanh ? tf.tanh(out) : out;
  });
}

/**
 * Minibatch standard deviation (ProGAN): the std of each feature over a group of up to 4
 * samples, averaged to one number per group and appended as a constant channel. Sample n
 * belongs to group column n % (N / G), as in the paper's reshape to [G, -1, ...].
 */
export function minibatchStddev(x: tf.Tensor4D, groupSize = 4): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const g = Math.min(groupSize, n);
    if (n % g !== 0) throw new Error(`minibatch stddev: batch ${n} not divisible by group ${g}`);
    const y = tf.reshape(x, [g, n / g, h, w, c]);
    const centred = tf.sub(y, tf.mean(y, 0, true));
    const std = tf.sqrt(tf.add(tf.mean(tf.square(centred), 0), 1e-8)); // [M, h, w, c]
    const perGroup = tf.mean(std, [1, 2, 3]); // [M]
    // Sample n gets perGroup[n % M] (tiles of rank <= 4: tfjs has no rank-5 tile gradient).
    const perSample = tf.reshape(tf.tile(tf.reshape(perGroup, [1, n / g]), [g, 1]), [n, 1, 1, 1]);
    return tf.concat([x, tf.tile(perSample, [1, h, w, 1]) as tf.Tensor4D], 3);
  });
}

function fromRgb(p: Params, cfg: GanConfig, b: number, x: tf.Tensor4D): tf.Tensor4D {
  return conv2d(p, `d.rgb${b}`, x, channelsAt(cfg, b), { ...eq, kernel: 1, lrelu: true });
}

function dBlock(p: Params, cfg: GanConfig, b: number, h: tf.Tensor4D): tf.Tensor4D {
  const separable = cfg.separableD ?? false;
  h = conv2d(p, `d.block${b}.conv0`, h, channelsAt(cfg, b), { ...eq, separable, lrelu: true });
  h = conv2d(p, `d.block${b}.conv1`, h, channelsAt(cfg, b - 1), { ...eq, separable, lrelu: true });
  return downsample2x(h);
}

/** One logit per sample for images at resolution 4 * 2^phase.level. */
export function proganD(p: Params, cfg: GanConfig, x: tf.Tensor4D, phase: Phase): tf.Tensor1D {
  return tf.tidy(() => {
    const L = phase.level;
    let h = fromRgb(p, cfg, L, x);
    if (L > 0) {
      h = dBlock(p, cfg, L, h);
      if (phase.alpha < 1) h = lerp(fromRgb(p, cfg, L - 1, downsample2x(x)), h, phase.alpha);
    }
    for (let b = L - 1; b >= 1; b--) h = dBlock(p, cfg, b, h);
    const c0 = channelsAt(cfg, 0);
    h = conv2d(p, "d.final.conv", minibatchStddev(h), c0, { ...eq, lrelu: true });
    const flat = tf.reshape(h, [h.shape[0], -1]) as tf.Tensor2D;
    const f = lrelu(dense(p, "d.final.fc0", flat, c0, eq));
    return tf.reshape(dense(p, "d.final.fc1", f, 1, { ...eq, gain: 1 }), [-1]) as tf.Tensor1D;
  });
}

/** Real images as a phase sees them: box-downsampled to its resolution, faded like G's output. */
export function realsAtPhase(x: tf.Tensor4D, finalLevel: number, phase: Phase): tf.Tensor4D {
  return tf.tidy(() => {
    // One pass to the phase's resolution: at 4x4 the repeated halvings of a 64² batch cost more
    // than the training step itself.
    const k = 2 ** (finalLevel - phase.level);
    let y = k > 1 ? boxDownsample(x, k) : x;
    if (phase.alpha < 1 && phase.level > 0) y = lerp(upsample2x(downsample2x(y)), y, phase.alpha);
    return y;
  });
}
