/** Stage `train-autoencoder`: images -> small latent codes and back (Liu et al. 2019, stage 1). */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { mapBatchesAsync, psnr, trainAutoencoder } from "../train/autoencoder.ts";
import { decode, encode } from "../models/autoencoder.ts";
import { writeAutoencoderFile } from "../models/autoencoder_file.ts";
import { gridPng } from "./grid_png.ts";
import { checkpointHooks } from "./checkpoint_hooks.ts";
import { tensorStage } from "./tensor_stage.ts";
import { trainingSplit } from "./prepared_dataset.ts";
import { trainingProgress } from "./training_progress.ts";
import { onHost } from "../backend/host_read.ts";

const params = z.object({
  factor: z.number().int().refine((f) => Number.isInteger(Math.log2(f)), "a power of two").default(
    4,
  ),
  latentChannels: z.number().int().min(1).max(64).default(4),
  width: z.number().int().min(4).max(256).default(16),
  steps: z.number().int().min(1).default(1000),
  batch: z.number().int().min(1).max(512).default(32),
  lr: z.number().positive().max(1).default(2e-3),
  /** The last fraction of the steps over which the learning rates fall to 0 (a half cosine). */
  lrRampdown: z.number().min(0).max(1).default(0),
  advWeight: z.number().min(0).max(10).default(0.05),
  /** Noise on codes while training, in code standard deviations: a decoder robust to it. */
  codeNoise: z.number().min(0).max(2).default(0),
  holdout: z.number().int().min(8).default(256),
  checkpointEvery: z.number().int().min(1).default(250),
  seed: z.number().int().default(1),
});

export const trainAutoencoderStage = tensorStage({
  name: "train-autoencoder",
  module: import.meta.url,
  params,
  inputs: { dataset: "prepare.dataset" },
  outputs: {
    model: "autoencoder.gft",
    reconstructions: "reconstructions.png",
    history: "history.json",
  },
  // One accelerator per machine; on a cluster: requeued before the time limit, resumed from checkpoints.
  resources: {
    exclusive: "accelerator",
    cpus: 2,
    mem: "8G",
    time: "1-00:00:00",
    checkpointed: true,
  },
  async run(ctx) {
    const backend = ctx.backend;
    const p = ctx.params;
    const split = await trainingSplit(ctx.inputs.dataset, p);
    const { resolution: res, holdout, batches: data } = split;
    const config = { factor: p.factor, latentChannels: p.latentChannels, width: p.width };
    const progress = trainingProgress(ctx, backend, p.steps);
    const result = await trainAutoencoder({
      config,
      data,
      steps: p.steps,
      seed: p.seed,
      lr: p.lr,
      lrRampdown: p.lrRampdown,
      advWeight: p.advWeight,
      codeNoise: p.codeNoise,
      checkpoint: await checkpointHooks(ctx, p.checkpointEvery),
      onProgress: (s, t, l) => progress(s, t, `L1 ${l.l1.toFixed(4)} critic ${l.adv.toFixed(3)}`),
    });
    await data.close();
    // Held-out PSNR and the originals-vs-reconstructions picture.
    const held = await split.heldOut();
    const per = res * res * 3;
    const rec = await mapBatchesAsync(
      held,
      [res, res, 3],
      64,
      (x) => decode(result.params, config, encode(result.params, config, x)),
    );
    const heldPsnr = psnr(rec.data, held);
    const show = Math.min(16, holdout);
    const pair = new Float32Array(2 * show * per);
    for (let i = 0; i < show; i++) {
      pair.set(held.subarray(i * per, (i + 1) * per), i * per); // top rows: originals
      pair.set(rec.data.subarray(i * per, (i + 1) * per), (show + i) * per); // below: reconstructions
    }
    await Deno.writeFile(
      ctx.outputs.reconstructions,
      await gridPng(pair, [2 * show, res, res, 3], 8),
    );
    const codeShape: [number, number, number] = [res / p.factor, res / p.factor, p.latentChannels];
    await onHost(result.params.list()); // a GPU backend reads the weights asynchronously first
    await writeAutoencoderFile(ctx.outputs.model, {
      arrays: result.params.toArrays(),
      config,
      imageSize: res,
      codeShape,
    });
    await Deno.writeTextFile(ctx.outputs.history, JSON.stringify(result.history));
    ctx.log(
      `held-out PSNR ${heldPsnr.toFixed(2)} dB on ${holdout} images; code ${codeShape.join("x")}`,
    );
    result.params.dispose();
    tf.disposeVariables();
    return {
      psnr: heldPsnr,
      holdout,
      compression: (res * res * 3) / codeShape.reduce((a, b) => a * b, 1),
      backend,
    };
  },
});
