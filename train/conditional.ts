/**
 * The conditional task the compress feature is shown on (besides the unconditional decoder):
 * image-to-image generation from a condition (an edge map, data/edges.ts). The network is the
 * autoencoder's encoder applied to the condition and its decoder producing the image, trained
 * with L1 + L2 against the real image. Its decoder has the same `dec.*` weights as the
 * autoencoder's, so the same condense/prune/distill code compresses it.
 */
import * as tf from "@tensorflow/tfjs";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import type { BatchSource } from "../data/batch_source.ts";
import { type AutoencoderConfig, decode, encode } from "../models/autoencoder.ts";
import { Adam } from "./adam.ts";
import {
  type CheckpointHooks,
  DivergenceError,
  packState,
  unpackState,
} from "./checkpoint_state.ts";
import { onHost } from "../backend/host_read.ts";
import { stateTensors } from "./host_state.ts";
import { PendingLosses } from "./pending_losses.ts";

export interface ConditionalTrainOptions {
  /** `imageChannels` is the output's channel count; the input's comes from `condition`. */
  config: AutoencoderConfig;
  /** Target images. */
  data: BatchSource;
  /** Images (NHWC, `count` of them) -> conditions (NHWC with `conditionChannels`). */
  condition: (images: Float32Array, count: number) => Float32Array;
  conditionChannels: number;
  steps: number;
  seed: number;
  lr?: number;
  l2Weight?: number;
  checkpoint?: CheckpointHooks;
  onProgress?: (step: number, total: number, losses: { l1: number }) => void;
}

export function createConditional(
  config: AutoencoderConfig,
  imageSize: number,
  conditionChannels: number,
  seed: number,
): Params {
  const p = new Params(new Rng(seed));
  tf.tidy(() =>
    decode(p, config, encode(p, config, tf.zeros([1, imageSize, imageSize, conditionChannels])))
  );
  return p;
}

/** The conditional generator: condition -> image. */
export function generateFrom(p: Params, cfg: AutoencoderConfig, cond: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => decode(p, cfg, encode(p, cfg, cond)));
}

export async function trainConditional(
  o: ConditionalTrainOptions,
): Promise<{ params: Params; history: { step: number[]; l1: number[] } }> {
  const cfg = o.config;
  const [h, w, c] = o.data.sampleShape;
  const n = o.data.batchSize;
  const net = createConditional(cfg, h, o.conditionChannels, o.seed);
  const opt = new Adam({ lr: o.lr ?? 2e-3, beta1: 0.9, beta2: 0.99, eps: 1e-8 });
  const l2Weight = o.l2Weight ?? 1;
  const history = { step: [] as number[], l1: [] as number[] };
  const parts = { N: net, opt };
  let start = 0, lastCheckpoint: number | null = null;
  if (o.checkpoint?.resume) {
    const s = o.checkpoint.resume;
    unpackState(s, parts);
    Object.assign(history, s.history);
    start = s.step;
    lastCheckpoint = s.step;
  }
  const vars = net.list();
  const pending = new PendingLosses<null>();
  for (let step = start; step < o.steps; step++) {
    const images = await o.data.batch(step);
    const y = tf.tensor4d(images, [n, h, w, c]);
    const x = tf.tensor4d(o.condition(images, n), [n, h, w, o.conditionChannels]);
    let l1T: tf.Scalar | null = null;
    const r = tf.variableGrads(() => {
      const d = tf.sub(decode(net, cfg, encode(net, cfg, x)), y);
      const a = tf.mean(tf.abs(d)) as tf.Scalar;
      l1T = tf.keep(a); // read after the step (asynchronously)
      return tf.add(a, tf.mul(tf.mean(tf.square(d)), l2Weight)) as tf.Scalar;
    }, vars);
    opt.apply(net, r.grads);
    tf.dispose([x, y, ...Object.values(r.grads)]);
    // Losses stay on the backend and are read every few steps on a GPU (every step here).
    pending.push(step, [r.value, l1T as unknown as tf.Scalar], null, 0);
    const due = o.checkpoint && (step + 1) % o.checkpoint.every === 0 && step + 1 < o.steps;
    if (!(due || step + 1 === o.steps || pending.full)) continue;
    for (const { step: s, values: [total, l1] } of await pending.read()) {
      if (!Number.isFinite(total)) throw new DivergenceError(s, lastCheckpoint, { loss: total });
      history.step.push(s + 1);
      history.l1.push(l1);
      o.onProgress?.(s + 1, o.steps, { l1 });
    }
    if (due && o.checkpoint) {
      await onHost(stateTensors(parts)); // GPU backends: the state is read asynchronously first
      await o.checkpoint.save(
        step + 1,
        packState(parts, step + 1, new Rng(o.seed).state(), history),
      );
      lastCheckpoint = step + 1;
    }
  }
  opt.dispose();
  return { params: net, history };
}
