/**
 * GAN training loop (latent codes or pixels alike): alternating D and G steps with the
 * non-saturating logistic loss, hand-written Adam, an EMA copy of G, checkpoints that resume
 * bit-identically, a fixed-seed sample grid every N steps, and divergence detection.
 */
import * as tf from "@tensorflow/tfjs";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import type { BatchSource } from "../data/batch_source.ts";
import { discriminate, type GanConfig, generate } from "../models/gan.ts";
import { Adam, emaUpdate } from "./adam.ts";
import {
  type CheckpointHooks,
  DivergenceError,
  packState,
  unpackState,
} from "./checkpoint_state.ts";
import { type StepNets, twoStageStep } from "./gan_step.ts";

export interface GanTrainOptions {
  config: GanConfig;
  data: BatchSource;
  steps: number;
  seed: number;
  lr?: number;
  beta1?: number;
  beta2?: number;
  emaDecay?: number;
  checkpoint?: CheckpointHooks;
  /** Called every `every` steps with EMA-G samples of a fixed set of latents. */
  samples?: {
    every: number;
    count: number;
    onSample(step: number, images: tf.Tensor4D): Promise<void>;
  };
  onProgress?: (step: number, total: number, losses: { d: number; g: number }) => void;
}

export interface GanModel {
  config: GanConfig;
  g: Params;
  d: Params;
  ema: Params;
}

export interface GanResult extends GanModel {
  history: { step: number[]; d: number[]; g: number[] };
}

export function createGan(config: GanConfig, seed: number): GanModel {
  const rng = new Rng(seed);
  const g = new Params(rng.fork());
  const d = new Params(rng.fork());
  // Build every weight once with a dummy pass so the parameter lists are complete.
  tf.tidy(() => {
    const x = generate(g, config, tf.zeros([1, config.zDim]));
    discriminate(d, config, x);
  });
  const ema = new Params(new Rng(0), false);
  ema.loadArrays(g.toArrays());
  return { config, g, d, ema };
}

export function sampleLatents(rng: Rng, n: number, zDim: number): tf.Tensor2D {
  return tf.tensor2d(rng.normalArray(n * zDim), [n, zDim]);
}

export async function trainGan(o: GanTrainOptions): Promise<GanResult> {
  const cfg = o.config;
  const model = createGan(cfg, o.seed);
  const { g, d, ema } = model;
  const adam = { lr: o.lr ?? 2e-4, beta1: o.beta1 ?? 0.5, beta2: o.beta2 ?? 0.99, eps: 1e-8 };
  const optG = new Adam(adam);
  const optD = new Adam(adam);
  let rng = new Rng(o.seed ^ 0x5eed);
  const history = { step: [] as number[], d: [] as number[], g: [] as number[] };
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
  const fixedZ = o.samples
    ? sampleLatents(new Rng(o.seed ^ 0xf1ced), o.samples.count, cfg.zDim)
    : null;
  const gVars = g.list(), emaVars = ema.list();
  const nets: StepNets = {
    g,
    d,
    G: (z) => generate(g, cfg, z),
    D: (x) => discriminate(d, cfg, x),
  };
  const decay = o.emaDecay ?? 0.999;
  const [h, w, c] = o.data.sampleShape;
  const n = o.data.batchSize;

  for (let step = start; step < o.steps; step++) {
    const realData = await o.data.batch(step);
    const real = tf.tensor4d(realData, [n, h, w, c]);
    const z1 = sampleLatents(rng, n, cfg.zDim);
    const z2 = sampleLatents(rng, n, cfg.zDim);
    const { d: dl, g: gl } = twoStageStep(nets, real, z1, z2, optD, optG);
    // Ramp the EMA decay up (as TF's ExponentialMovingAverage with num_updates): a fixed 0.999
    // would keep the average dominated by the random initial weights for thousands of steps.
    emaUpdate(emaVars, gVars, Math.min(decay, (1 + step) / (10 + step)));
    tf.dispose([real, z1, z2]);
    if (!Number.isFinite(dl) || !Number.isFinite(gl)) {
      throw new DivergenceError(step, lastCheckpoint, { d: dl, g: gl });
    }
    history.step.push(step + 1);
    history.d.push(dl);
    history.g.push(gl);
    const done = step + 1;
    o.onProgress?.(done, o.steps, { d: dl, g: gl });
    if (o.samples && fixedZ && (done % o.samples.every === 0 || done === o.steps)) {
      const imgs = generate(ema, cfg, fixedZ);
      await o.samples.onSample(done, imgs);
      imgs.dispose();
    }
    if (o.checkpoint && done % o.checkpoint.every === 0 && done < o.steps) {
      await o.checkpoint.save(done, packState(parts, done, rng.state(), history));
      lastCheckpoint = done;
    }
  }
  fixedZ?.dispose();
  optG.dispose();
  optD.dispose();
  return { ...model, history };
}
