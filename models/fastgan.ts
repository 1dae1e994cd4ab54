/**
 * The FastGAN-style generator that Projected GAN trains (Liu et al. 2021; Sauer et al. 2021):
 * nearest upsample + conv3x3 + batch norm + GLU blocks, every other block doubled with noise
 * injection, and skip-layer excitation (SE) from the block four doublings below. Batch norm uses
 * batch statistics in training and sampling alike (no running averages to carry), and spectral
 * normalisation is left out. With `conv: "separable"` every 3x3 conv is depthwise + pointwise.
 */
import * as tf from "@tensorflow/tfjs";
import type { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import { blocks, channelsAt, type GanConfig } from "./gan_config.ts";
import { conv2d, dense } from "./layers.ts";
import { batchNormGlu } from "./lean_bn_glu.ts";

/** Gated linear unit over channels: a * sigmoid(b) for the two halves [a, b]. */
export function glu(x: tf.Tensor4D): tf.Tensor4D {
  // Each helper runs in its own scope: temporaries that no backward keeps are freed at once
  // instead of when G's whole forward ends (the step's memory peak).
  return tf.tidy(() => {
    const c = x.shape[3] / 2;
    const [a, b] = tf.split(x, [c, c], 3);
    return tf.mul(a, tf.sigmoid(b));
  });
}

/**
 * Batch norm with batch statistics and a learned per-channel scale and shift, then GLU: one op
 * that keeps only its input for backward (models/lean_bn_glu.ts).
 */
function normGlu(p: Params, name: string, x: tf.Tensor4D): tf.Tensor4D {
  const c = x.shape[3];
  const gamma = p.get(`${name}.gamma`, [c], { kind: "const", value: 1 });
  const beta = p.get(`${name}.beta`, [c], { kind: "const", value: 0 });
  return batchNormGlu(x, gamma, beta);
}

/** x + w * noise, one noise value per pixel shared by all channels, w learned (init 0). */
function injectNoise(p: Params, name: string, x: tf.Tensor4D, rng: Rng): tf.Tensor4D {
  const [n, h, w] = x.shape;
  const noise = rng.normalArray(n * h * w);
  return tf.tidy(() =>
    tf.add(
      x,
      tf.mul(
        tf.tensor4d(noise, [n, h, w, 1]),
        p.get(`${name}.w`, [1], { kind: "const", value: 0 }),
      ),
    )
  );
}

/** Skip-layer excitation: channel gates for `big` computed from the 4x4-pooled `small`. */
function excite(p: Params, name: string, small: tf.Tensor4D, big: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const k = small.shape[1] / 4;
    const pooled = k > 1 ? tf.avgPool(small, k, k, "valid") : small;
    const c = big.shape[3];
    // A 4x4 'valid' conv on a 4x4 map is a dense layer on the flattened map.
    const flat = tf.reshape(pooled, [pooled.shape[0], -1]) as tf.Tensor2D;
    const h = dense(p, `${name}.fc0`, flat, c);
    const gate = tf.sigmoid(dense(p, `${name}.fc1`, tf.mul(h, tf.sigmoid(h)), c, { gain: 1 }));
    return tf.mul(big, tf.reshape(gate, [-1, 1, 1, c]));
  });
}

export function fastganG(p: Params, cfg: GanConfig, z: tf.Tensor2D, noiseSeed: number) {
  return tf.tidy(() => {
    const rng = new Rng(noiseSeed);
    const separable = cfg.conv === "separable";
    const c0 = channelsAt(cfg, 0);
    let h = tf.reshape(dense(p, "g.init", z, 16 * 2 * c0), [-1, 4, 4, 2 * c0]) as tf.Tensor4D;
    h = normGlu(p, "g.init.bn", h);
    const feats = [h];
    for (let b = 1; b <= blocks(cfg); b++) {
      const c2 = 2 * channelsAt(cfg, b);
      const name = `g.block${b}`;
      h = conv2d(p, `${name}.conv0`, h, c2, {
        upsample: true,
        separable,
        lean: true,
        bias: false,
      });
      if (b % 2 === 1) {
        // FastGAN's "UpBlockComp": two convs, each followed by noise injection.
        h = normGlu(p, `${name}.bn0`, injectNoise(p, `${name}.noise0`, h, rng));
        h = conv2d(p, `${name}.conv1`, h, c2, { separable, lean: true, bias: false });
        h = normGlu(p, `${name}.bn1`, injectNoise(p, `${name}.noise1`, h, rng));
      } else {
        h = normGlu(p, `${name}.bn0`, h);
      }
      if (b >= 4) h = excite(p, `${name}.se`, feats[b - 4], h);
      feats.push(h);
    }
    const out = conv2d(p, "g.out", h, cfg.shape[2], { separable, lean: true, gain: 1 });
    return cfg.tanh ? tf.tanh(out) : out;
  });
}
