/**
 * Trains the autoencoder of the two-stage method. Loss = L1 + advWeight * adversarial term from
 * a small PatchGAN critic (enabled after `advStart` steps). Why: L1 alone gives blurry
 * reconstructions, and the usual fix (a pretrained perceptual network such as VGG/LPIPS) cannot
 * be downloaded here; a patch critic trained from scratch sharpens local texture at little cost.
 */
import * as tf from "@tensorflow/tfjs";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import type { BatchSource } from "../data/batch_source.ts";
import { type AutoencoderConfig, decode, encode, patchCritic } from "../models/autoencoder.ts";
import { Adam } from "./adam.ts";
import { lrScaleAt } from "./lr_rampdown.ts";
import {
  type CheckpointHooks,
  DivergenceError,
  packState,
  unpackState,
} from "./checkpoint_state.ts";
import { dLossFn, gLossFn } from "./losses.ts";
import { stateTensors } from "./host_state.ts";
import { PendingLosses } from "./pending_losses.ts";
import { onHost } from "../backend/host_read.ts";
import { untaped } from "../backend/ops/untaped.ts";

export interface AutoencoderTrainOptions {
  config: AutoencoderConfig;
  data: BatchSource;
  steps: number;
  seed: number;
  lr?: number;
  /** The last fraction of the steps over which the learning rates fall to 0 (lr_rampdown.ts). */
  lrRampdown?: number;
  advWeight?: number;
  /** Weight of the mean squared error added to L1. */
  l2Weight?: number;
  advStart?: number;
  /**
   * Gaussian noise added to the codes before decoding, in units of each code channel's standard
   * deviation over the batch (0: none). The decoder then maps a neighbourhood of each code to
   * the same image, so a generator's codes that land near, not on, the encoder's decode to
   * clean images rather than artefacts.
   */
  codeNoise?: number;
  checkpoint?: CheckpointHooks;
  onProgress?: (step: number, total: number, losses: { l1: number; adv: number }) => void;
}

export interface AutoencoderResult {
  params: Params;
  config: AutoencoderConfig;
  history: { step: number[]; l1: number[]; adv: number[] };
}

export function createAutoencoder(
  config: AutoencoderConfig,
  imageSize: number,
  seed: number,
): Params {
  const p = new Params(new Rng(seed));
  tf.tidy(() =>
    decode(
      p,
      config,
      encode(p, config, tf.zeros([1, imageSize, imageSize, config.imageChannels ?? 3])),
    )
  );
  return p;
}

export async function trainAutoencoder(o: AutoencoderTrainOptions): Promise<AutoencoderResult> {
  const cfg = o.config;
  const [h, w, c] = o.data.sampleShape;
  const n = o.data.batchSize;
  const ae = createAutoencoder(cfg, h, o.seed);
  const critic = new Params(new Rng(o.seed ^ 0xc1));
  tf.tidy(() => patchCritic(critic, tf.zeros([1, h, w, c])));
  const opt = { lr: o.lr ?? 1e-3, beta1: 0.9, beta2: 0.99, eps: 1e-8 };
  const optAe = new Adam({ ...opt });
  const optC = new Adam({ ...opt });
  const advWeight = o.advWeight ?? 0.05;
  const l2Weight = o.l2Weight ?? 1;
  const advStart = o.advStart ?? Math.floor(o.steps / 2);
  const codeNoise = o.codeNoise ?? 0;
  const history = { step: [] as number[], l1: [] as number[], adv: [] as number[] };
  let start = 0;
  let lastCheckpoint: number | null = null;
  let rng = new Rng(o.seed);
  const parts = { AE: ae, C: critic, optAE: optAe, optC };
  if (o.checkpoint?.resume) {
    const s = o.checkpoint.resume;
    unpackState(s, parts);
    rng = new Rng(s.rng);
    Object.assign(history, s.history);
    start = s.step;
    lastCheckpoint = s.step;
  }
  const aeVars = ae.list(), cVars = critic.list();
  const pending = new PendingLosses<null>();
  for (let step = start; step < o.steps; step++) {
    const x = tf.tensor4d(await o.data.batch(step), [n, h, w, c]);
    const useAdv = advWeight > 0 && step >= advStart;
    optAe.opts.lr = optC.opts.lr = opt.lr * lrScaleAt(step, o.steps, o.lrRampdown ?? 0);
    const codeSize = (h / cfg.factor) * (w / cfg.factor) * cfg.latentChannels;
    // From the checkpointed stream, so a resumed run draws the same noise.
    const eps = codeNoise > 0 ? tf.tensor1d(rng.normalArray(n * codeSize)) : null;
    let l1T: tf.Scalar | null = null;
    const r = tf.variableGrads(() => {
      let code = encode(ae, cfg, x);
      if (eps) code = withCodeNoise(code, eps, codeNoise);
      const rec = decode(ae, cfg, code);
      const diff = tf.sub(rec, x);
      l1T = tf.keep(tf.mean(tf.abs(diff)) as tf.Scalar);
      // L1 alone sits in a local minimum on mostly-black images (the per-pixel median is the
      // background): the L2 term pulls the bright strokes in early; L1 then sharpens.
      const lossL1 = tf.add(
        tf.mean(tf.abs(diff)),
        tf.mul(tf.mean(tf.square(diff)), l2Weight),
      ) as tf.Scalar;
      if (!useAdv) return lossL1;
      return tf.add(lossL1, tf.mul(gLossFn(patchCritic(critic, rec)), advWeight)) as tf.Scalar;
    }, aeVars);
    optAe.apply(ae, r.grads);
    let advT: tf.Scalar | null = null;
    if (useAdv) {
      const rec = decode(ae, cfg, encode(ae, cfg, x));
      const cr = tf.variableGrads(
        () => dLossFn(patchCritic(critic, x), patchCritic(critic, rec)),
        cVars,
      );
      optC.apply(critic, cr.grads);
      advT = cr.value;
      tf.dispose([rec, ...Object.values(cr.grads)]);
    }
    tf.dispose([x, ...(eps ? [eps] : []), ...Object.values(r.grads)]);
    // Losses stay on the backend and are read every few steps on a GPU (every step here).
    pending.push(step, [r.value, l1T ?? tf.clone(r.value), advT ?? tf.scalar(0)], null, 0);
    const due = o.checkpoint && (step + 1) % o.checkpoint.every === 0 && step + 1 < o.steps;
    if (!(due || step + 1 === o.steps || pending.full)) continue;
    for (const { step: s, values: [total, l1, advValue] } of await pending.read()) {
      if (!Number.isFinite(total) || !Number.isFinite(advValue)) {
        throw new DivergenceError(s, lastCheckpoint, { l1: total, critic: advValue });
      }
      history.step.push(s + 1);
      history.l1.push(l1);
      history.adv.push(advValue);
      o.onProgress?.(s + 1, o.steps, { l1, adv: advValue });
    }
    if (due && o.checkpoint) {
      await onHost(stateTensors(parts)); // GPU backends: the state is read asynchronously first
      const state = packState(parts, step + 1, rng.state(), history);
      await o.checkpoint.save(step + 1, state);
      lastCheckpoint = step + 1;
    }
  }
  optAe.dispose();
  optC.dispose();
  critic.dispose();
  return { params: ae, config: cfg, history };
}

/**
 * code + scale * std * eps, with std each channel's standard deviation over the batch taken as
 * data (no gradient through it: the noise level is fixed relative to the codes' spread, which
 * is what the z-scored codes the generator learns see).
 */
export function withCodeNoise(code: tf.Tensor4D, eps: tf.Tensor1D, scale: number): tf.Tensor4D {
  const std = untaped(() => tf.sqrt(tf.add(tf.moments(code, [0, 1, 2]).variance, 1e-12)));
  return tf.add(code, tf.mul(tf.reshape(eps, code.shape), tf.mul(std, scale))) as tf.Tensor4D;
}

/**
 * Encodes/decodes in batches (bounded memory); returns NHWC floats. Each batch's result is read
 * asynchronously, as a GPU backend needs (on the CPU backends the same values).
 */
export async function mapBatchesAsync(
  x: Float32Array,
  inShape: [number, number, number],
  batch: number,
  fn: (t: tf.Tensor4D) => tf.Tensor4D,
): Promise<{ data: Float32Array; shape: [number, number, number] }> {
  const per = inShape[0] * inShape[1] * inShape[2];
  const n = x.length / per;
  let out: Float32Array | null = null;
  let outShape: [number, number, number] = [0, 0, 0];
  for (let i = 0; i < n; i += batch) {
    const m = Math.min(batch, n - i);
    const res = tf.tidy(() => fn(tf.tensor4d(x.subarray(i * per, (i + m) * per), [m, ...inShape])));
    const [, a, b, c] = res.shape;
    if (!out) {
      outShape = [a, b, c];
      out = new Float32Array(n * a * b * c);
    }
    out.set(await res.data() as Float32Array, i * a * b * c);
    res.dispose();
  }
  return { data: out ?? new Float32Array(), shape: outShape };
}

/** Peak signal-to-noise ratio for images in [-1, 1] (peak-to-peak 2). */
export function psnr(a: Float32Array, b: Float32Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i] - b[i]) ** 2;
  const mse = se / a.length;
  return 10 * Math.log10(4 / mse);
}
