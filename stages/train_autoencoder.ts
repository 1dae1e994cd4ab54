/** Stage `train-autoencoder`: images -> small latent codes and back (Liu et al. 2019, stage 1). */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { defineStage } from "../pipeline/stage.ts";
import { openImageBatches, readFloatArray } from "../data/zarr_batches.ts";
import { mapBatchesAsync, psnr, trainAutoencoder } from "../train/autoencoder.ts";
import { decode, encode } from "../models/autoencoder.ts";
import { readAttributes } from "../data/zarr_io.ts";
import { checkpointHooks, gridPng, startBackend, writeModel } from "./common.ts";
import { onHost } from "../backend/webgpu/host_read.ts";

const params = z.object({
  factor: z.number().int().refine((f) => Number.isInteger(Math.log2(f)), "a power of two").default(
    4,
  ),
  latentChannels: z.number().int().min(1).max(64).default(4),
  width: z.number().int().min(4).max(256).default(16),
  steps: z.number().int().min(1).default(1000),
  batch: z.number().int().min(1).max(512).default(32),
  lr: z.number().positive().max(1).default(2e-3),
  advWeight: z.number().min(0).max(10).default(0.05),
  holdout: z.number().int().min(8).default(256),
  checkpointEvery: z.number().int().min(1).default(250),
  seed: z.number().int().default(1),
});

export const trainAutoencoderStage = defineStage({
  name: "train-autoencoder",
  module: import.meta.url,
  params,
  inputs: { dataset: "prepare.dataset" },
  outputs: {
    model: "autoencoder.gft",
    reconstructions: "reconstructions.png",
    history: "history.json",
  },
  resource: "accelerator",
  uses: ["backend"],
  async run(ctx) {
    const backend = await startBackend(ctx);
    const p = ctx.params;
    const attrs = await readAttributes(ctx.inputs.dataset, "");
    const res = attrs.resolution as number;
    const count = attrs.count as number;
    const holdout = Math.min(p.holdout, Math.floor(count / 4));
    const data = await openImageBatches({
      store: ctx.inputs.dataset,
      resolution: res,
      batchSize: p.batch,
      seed: p.seed,
      limit: count - holdout,
    });
    const config = { factor: p.factor, latentChannels: p.latentChannels, width: p.width };
    const result = await trainAutoencoder({
      config,
      data,
      steps: p.steps,
      seed: p.seed,
      lr: p.lr,
      advWeight: p.advWeight,
      checkpoint: await checkpointHooks(ctx, p.checkpointEvery),
      onProgress: (s, t, l) =>
        ctx.progress(s, t, `L1 ${l.l1.toFixed(4)} critic ${l.adv.toFixed(3)}`),
    });
    await data.close();
    // Held-out PSNR and the originals-vs-reconstructions picture.
    const all = await readFloatArray(ctx.inputs.dataset, `images/${res}`);
    const per = res * res * 3;
    const held = new Float32Array(holdout * per);
    for (let i = 0; i < held.length; i++) {
      held[i] = all.data[(count - holdout) * per + i] / 127.5 - 1;
    }
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
    const codeShape = [res / p.factor, res / p.factor, p.latentChannels];
    await onHost(result.params.list()); // a GPU backend reads the weights asynchronously first
    await writeModel(ctx.outputs.model, result.params.toArrays(), {
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
