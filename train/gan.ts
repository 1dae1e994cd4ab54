/**
 * GAN training loop (latent codes or pixels alike, every architecture of models/gan.ts):
 * two-stage or one-stage steps, logistic / Wasserstein(-GP) / hinge losses, optional ProGAN
 * growth, hand-written Adam, an EMA copy of G, checkpoints that resume bit-identically (also
 * mid-fade), a fixed-seed sample grid and weight snapshots every N steps, divergence detection.
 */
import * as tf from "@tensorflow/tfjs";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import type { BatchSource } from "../data/batch_source.ts";
import {
  blocks,
  discriminate,
  type GanCallOptions,
  type GanConfig,
  generate,
  latentModes,
  latentWidth,
  type Phase,
  sampleLatents,
} from "../models/gan.ts";
import type { FeatureNet } from "../models/projected_d.ts";
import { realsAtPhase } from "../models/progan.ts";
import { upsampleTo } from "../models/layers.ts";
import { Adam, emaUpdate } from "./adam.ts";
import { lrScaleAt } from "./lr_rampdown.ts";
import {
  type CheckpointHooks,
  DivergenceError,
  packState,
  unpackState,
} from "./checkpoint_state.ts";
import { assertOneStage, ganStepTensors, type Schedule } from "./gan_step.ts";
import { type Augmentation, augmentedNets } from "./diff_augment.ts";
import { adamFor, stepNets } from "./recipe.ts";
import { PendingLosses } from "./pending_losses.ts";
import { stateTensors } from "./host_state.ts";
import { onDevice, onHost } from "../backend/host_read.ts";
import { copyParamsOnDevice } from "./device_copy.ts";
import { type DRegularisers, GAN_LOSSES, type GanLossName } from "./losses.ts";
import { type Growth, growthPhase } from "./growth.ts";

export interface GanTrainOptions {
  config: GanConfig;
  data: BatchSource;
  /**
   * Images per step (default: the data source's batch). Under progressive growing, the batch of
   * resolutions `growth.batchByResolution` does not list; the source's batch must hold the
   * largest of them all.
   */
  batch?: number;
  steps: number;
  seed: number;
  lr?: number;
  beta1?: number;
  beta2?: number;
  emaDecay?: number;
  /**
   * The fraction of the run at its end over which both learning rates fall to zero along a
   * half cosine (0: constant rates; lr_rampdown.ts).
   */
  lrRampdown?: number;
  /** D's learning rate when it differs from G's (`lr`; TTUR, Heusel et al. 2017). */
  dLr?: number;
  /** G's loss over this fraction of each batch, the samples D rates most real (two-stage). */
  gTopK?: number;
  /** D sees its inputs, real and generated, through these augmentations (diff_augment.ts). */
  augment?: readonly Augmentation[];
  /** A mode-conditioned D (`config.conditionD`): the modes of the real samples of `step`'s batch. */
  realModes?: (step: number) => Int32Array;
  /** Default "logistic" (non-saturating). */
  loss?: GanLossName;
  /** WGAN-GP's gradient penalty and drift (ProGAN: lambda 10, drift 1e-3). */
  reg?: DRegularisers;
  /** R1 penalty on D's gradient at real samples: gamma (0: none) and the lazy interval. */
  r1?: { gamma: number; every: number };
  /** Default "two-stage". */
  schedule?: Schedule;
  /** Progressive growing (progan architecture only). */
  growth?: Growth;
  /** The frozen feature network of a projected discriminator. */
  features?: FeatureNet;
  checkpoint?: CheckpointHooks;
  /** Called every `every` steps with EMA-G samples of a fixed set of latents. */
  samples?: {
    every: number;
    count: number;
    onSample(step: number, images: tf.Tensor4D): Promise<void>;
  };
  /** Called every `every` steps (and at the end) with the EMA generator and its growth phase. */
  snapshots?: { every: number; save(step: number, ema: Params, phase: Phase): Promise<void> };
  onProgress?: (step: number, total: number, info: StepInfo) => void;
  /** Ends training after the first step where this returns true (a time budget, say). */
  until?: (step: number) => boolean;
}

export interface StepInfo {
  d: number;
  g: number;
  /** Progressive growing: the current resolution and fade-in. */
  resolution?: number;
  alpha?: number;
}

export interface GanModel {
  config: GanConfig;
  g: Params;
  d: Params;
  ema: Params;
}

export interface GanResult extends GanModel {
  history: { step: number[]; d: number[]; g: number[] };
  /** Wall ms of each training step run by this call (the step and EMA update only), with its resolution. */
  stepTimes: { resolution: number; ms: number }[];
  /**
   * Real images shown from step 0 to the last step run (a resumed run's earlier steps included):
   * the sum of each step's batch, which progressive growing varies by resolution.
   */
  images: number;
}

/** One-hot modes of a step's real samples (their clusters) and of its two sets of latents. */
function batchModes(
  o: GanTrainOptions,
  cfg: GanConfig,
  step: number,
  n: number,
  z1: tf.Tensor2D,
  z2: tf.Tensor2D,
) {
  if (!o.realModes) throw new Error("a mode-conditioned D needs the real samples' modes");
  const ids = o.realModes(step).subarray(0, n);
  const real = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(ids, "int32"), cfg.zModes!), "float32"));
  return { real: real as tf.Tensor2D, z1: latentModes(z1, cfg), z2: latentModes(z2, cfg) };
}

export function createGan(config: GanConfig, seed: number, features?: FeatureNet): GanModel {
  const rng = new Rng(seed);
  const g = new Params(rng.fork());
  const d = new Params(rng.fork());
  // Build every weight once with dummy passes (one per resolution when growing) so the
  // parameter lists are complete from the first step.
  const first = config.arch === "progan" ? 0 : blocks(config);
  for (let level = first; level <= blocks(config); level++) {
    tf.tidy(() => {
      const o: GanCallOptions = { phase: { level, alpha: 0.5 }, features };
      if (config.conditionD) o.modes = tf.zeros([4, config.zModes!]);
      discriminate(d, config, generate(g, config, tf.zeros([4, latentWidth(config)]), o), o);
    });
  }
  const ema = new Params(new Rng(0), false);
  if (onDevice()) copyParamsOnDevice(g, ema);
  else ema.loadArrays(g.toArrays());
  return { config, g, d, ema };
}

export async function trainGan(o: GanTrainOptions): Promise<GanResult> {
  const cfg = o.config;
  const schedule = o.schedule ?? "two-stage";
  const loss = GAN_LOSSES[o.loss ?? "logistic"];
  if (schedule === "one-stage") assertOneStage(loss);
  if (o.growth && cfg.arch !== "progan") {
    throw new Error(`progressive growing needs arch "progan" (got "${cfg.arch ?? "dcgan"}")`);
  }
  const batch = o.batch ?? o.data.batchSize;
  if (o.data.batchSize < Math.max(batch, ...Object.values(o.growth?.batchByResolution ?? {}))) {
    throw new Error("the data source's batch must be at least the largest batch trained on");
  }
  const model = createGan(cfg, o.seed, o.features);
  const { g, d, ema } = model;
  // Unset: DCGAN's settings whatever the architecture (the stage passes the recipe's per arch).
  const base = adamFor();
  const adam = {
    lr: o.lr ?? base.lr,
    beta1: o.beta1 ?? base.beta1,
    beta2: o.beta2 ?? base.beta2,
    eps: base.eps,
  };
  const optG = new Adam({ ...adam });
  const dLr = o.dLr ?? adam.lr;
  const optD = new Adam({ ...adam, lr: dLr });
  let rng = new Rng(o.seed ^ 0x5eed);
  const history = { step: [] as number[], d: [] as number[], g: [] as number[] };
  const stepTimes: GanResult["stepTimes"] = [];
  let start = 0;
  let lastCheckpoint: number | null = null;
  const parts = { G: g, D: d, E: ema, optG, optD };
  if (o.checkpoint?.resume) {
    const s = o.checkpoint.resume;
    unpackState(s, parts);
    rng = new Rng(s.rng);
    Object.assign(history, s.history);
    start = s.step;
    lastCheckpoint = s.step;
  }
  const finalLevel = blocks(cfg);
  const size = cfg.shape[0];
  const phaseAt = (step: number) =>
    o.growth
      ? growthPhase(step, o.growth, finalLevel, batch)
      : { level: finalLevel, resolution: size, alpha: 1, batch };
  const fixedZ = o.samples ? sampleLatents(new Rng(o.seed ^ 0xf1ced), o.samples.count, cfg) : null;
  const gVars = g.list(), emaVars = ema.list();
  const decay = o.emaDecay ?? 0.999;
  const [h, w, c] = o.data.sampleShape;
  let level = phaseAt(start).level;
  let end = start;
  const pending = new PendingLosses<ReturnType<typeof phaseAt>>();

  for (let step = start; step < o.steps; step++) {
    const ph = phaseAt(step);
    if (ph.level !== level) {
      // ProGAN resets the optimizers' moments when a new resolution starts.
      optG.dispose();
      optD.dispose();
      optG.t = optD.t = 0;
      level = ph.level;
    }
    const phase: Phase = { level: ph.level, alpha: ph.alpha };
    const noiseSeed = rng.int(2 ** 31);
    const call: GanCallOptions = { phase, noiseSeed, features: o.features };
    // Drawn only when augmenting, so runs without it keep their random stream.
    const augRng = o.augment?.length ? new Rng(rng.int(2 ** 31)) : null;
    const plain = stepNets({ g, d }, cfg, call);
    const nets = augRng ? augmentedNets(plain, o.augment!, augRng) : plain;
    const n = ph.batch;
    const all = await o.data.batch(step);
    const real = tf.tidy(() =>
      realsAtPhase(tf.tensor4d(all.subarray(0, n * h * w * c), [n, h, w, c]), finalLevel, phase)
    );
    const z1 = sampleLatents(rng, n, cfg);
    const z2 = sampleLatents(rng, n, cfg);
    const eps = o.reg ? tf.tensor1d(rng.uniformArray(n)) : undefined;
    const modes = cfg.conditionD ? batchModes(o, cfg, step, n, z1, z2) : undefined;
    const lrScale = lrScaleAt(step, o.steps, o.lrRampdown ?? 0);
    optG.opts.lr = adam.lr * lrScale;
    optD.opts.lr = dLr * lrScale;
    const t0 = performance.now();
    // A lazy R1 (StyleGAN2) runs every `every` steps with its weight scaled up to match.
    const r1Due = o.r1 && o.r1.gamma > 0 && step % o.r1.every === 0;
    const lossT = ganStepTensors(schedule, nets, { real, z1, z2, eps, modes }, optD, optG, {
      loss,
      reg: o.reg,
      ...(r1Due ? { r1Weight: (o.r1!.gamma / 2) * o.r1!.every } : {}),
      ...(o.gTopK !== undefined && o.gTopK < 1
        ? { gTopK: Math.max(1, Math.round(o.gTopK * n)) }
        : {}),
    });
    // Ramp the EMA decay up (as TF's ExponentialMovingAverage with num_updates): a fixed 0.999
    // would keep the average dominated by the random initial weights for thousands of steps.
    emaUpdate(emaVars, gVars, Math.min(decay, (1 + step) / (10 + step)));
    pending.push(step, [lossT.d, lossT.g], ph, performance.now() - t0);
    tf.dispose([real, z1, z2, ...(eps ? [eps] : []), ...(modes ? Object.values(modes) : [])]);
    const done = end = step + 1;
    const last = done === o.steps || (o.until?.(done) ?? false);
    const saving = (o.samples && done % o.samples.every === 0) ||
      (o.snapshots && done % o.snapshots.every === 0) ||
      (o.checkpoint && done % o.checkpoint.every === 0);
    // Losses are read every step on the host backends, every few steps on a GPU (no stall).
    if (!(last || saving || pending.full)) continue;
    for (const r of await pending.read()) {
      const losses = { d: r.values[0], g: r.values[1] };
      stepTimes.push({ resolution: r.info.resolution, ms: r.ms });
      if (!Number.isFinite(losses.d) || !Number.isFinite(losses.g)) {
        throw new DivergenceError(r.step, lastCheckpoint, losses);
      }
      history.step.push(r.step + 1);
      history.d.push(losses.d);
      history.g.push(losses.g);
      const info: StepInfo = o.growth
        ? { ...losses, resolution: r.info.resolution, alpha: r.info.alpha }
        : losses;
      o.onProgress?.(r.step + 1, o.steps, info);
    }
    if (o.samples && fixedZ && (done % o.samples.every === 0 || last)) {
      const imgs = tf.tidy(() =>
        upsampleTo(generate(ema, cfg, fixedZ, { ...call, noiseSeed: 0 }), size)
      );
      await o.samples.onSample(done, imgs);
      imgs.dispose();
    }
    if (o.snapshots && (done % o.snapshots.every === 0 || last)) {
      await o.snapshots.save(done, ema, phase);
    }
    if (last) break;
    if (o.checkpoint && done % o.checkpoint.every === 0) {
      await onHost(stateTensors(parts)); // GPU backends: the state is read asynchronously first
      await o.checkpoint.save(done, packState(parts, done, rng.state(), history));
      lastCheckpoint = done;
    }
  }
  fixedZ?.dispose();
  optG.dispose();
  optD.dispose();
  let images = 0;
  for (let s = 0; s < end; s++) images += phaseAt(s).batch;
  return { ...model, history, stepTimes, images };
}
