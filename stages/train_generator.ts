/**
 * Stage `train-generator`: the GAN of the two-stage method, trained on latent codes
 * (`space: "latent"`, decoded through the autoencoder for pictures) or, as the baseline the
 * acceleration is measured against, directly on pixels (`space: "pixel"`).
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { join } from "node:path";
import { defineStage, type InputRef } from "../pipeline/stage.ts";
import { openArrayBatches, openImageBatches } from "../data/zarr_batches.ts";
import { readAttributes } from "../data/zarr_io.ts";
import { trainGan } from "../train/gan.ts";
import type { GanConfig } from "../models/gan.ts";
import { type AutoencoderConfig, decode } from "../models/autoencoder.ts";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import { checkpointHooks, gridPng, readModel, startBackend, writeModel } from "./common.ts";

const params = z.object({
  space: z.enum(["latent", "pixel"]).default("latent"),
  steps: z.number().int().min(1).default(1500),
  batch: z.number().int().min(1).max(1024).default(64),
  zDim: z.number().int().min(1).max(1024).default(64),
  baseChannels: z.number().int().min(8).max(1024).default(128),
  lr: z.number().positive().max(1).default(2e-4),
  emaDecay: z.number().min(0).max(1).default(0.999),
  checkpointEvery: z.number().int().min(1).default(250),
  sampleEvery: z.number().int().min(1).default(250),
  seed: z.number().int().default(2),
});

export const trainGeneratorStage = defineStage({
  name: "train-generator",
  module: import.meta.url,
  params,
  inputs: (p): Record<string, InputRef> =>
    p.space === "latent"
      ? { codes: "encode.codes", autoencoder: "train-autoencoder.model" }
      : { dataset: "prepare.dataset" },
  outputs: { model: "generator.gft", history: "history.json", progress: "progress" },
  resource: "accelerator",
  uses: ["backend"],
  async run(ctx) {
    const backend = await startBackend(ctx);
    const p = ctx.params;
    const latent = p.space === "latent";
    const data = latent
      ? await openArrayBatches({
        store: ctx.inputs.codes,
        array: "codes",
        batchSize: p.batch,
        seed: p.seed,
      })
      : await openImageBatches({
        store: ctx.inputs.dataset,
        resolution: (await readAttributes(ctx.inputs.dataset, "")).resolution as number,
        batchSize: p.batch,
        seed: p.seed,
      });
    const shape = [...data.sampleShape] as [number, number, number];
    const config: GanConfig = { shape, zDim: p.zDim, baseChannels: p.baseChannels, tanh: !latent };
    // In latent mode, pictures of progress are codes decoded through the autoencoder.
    let toImages = (x: tf.Tensor4D) => x;
    let codeStats: { mean: number[]; std: number[] } | null = null;
    let ae: Params | null = null;
    if (latent) {
      const model = await readModel(ctx.inputs.autoencoder);
      const aeConfig = model.meta.config as AutoencoderConfig;
      ae = new Params(new Rng(0), false);
      ae.loadArrays(model.arrays);
      const attrs = await readAttributes(ctx.inputs.codes, "codes");
      codeStats = { mean: attrs.mean as number[], std: attrs.std as number[] };
      const { mean, std } = codeStats;
      toImages = (x) =>
        tf.tidy(() => decode(ae!, aeConfig, tf.add(tf.mul(x, std), mean) as tf.Tensor4D));
    }
    await Deno.mkdir(ctx.outputs.progress, { recursive: true });
    const result = await trainGan({
      config,
      data,
      steps: p.steps,
      seed: p.seed,
      lr: p.lr,
      emaDecay: p.emaDecay,
      checkpoint: await checkpointHooks(ctx, p.checkpointEvery),
      samples: {
        every: p.sampleEvery,
        count: 32,
        onSample: async (step, x) => {
          const imgs = toImages(x);
          await Deno.writeFile(
            join(ctx.outputs.progress, `step-${String(step).padStart(7, "0")}.png`),
            await gridPng(imgs),
          );
          imgs.dispose();
        },
      },
      onProgress: (s, t, l) => ctx.progress(s, t, `D ${l.d.toFixed(3)} G ${l.g.toFixed(3)}`),
    });
    await data.close();
    await writeModel(ctx.outputs.model, {
      ...result.ema.toArrays("E/"),
      ...result.g.toArrays("G/"),
    }, {
      config,
      space: p.space,
      codeStats,
    });
    await Deno.writeTextFile(ctx.outputs.history, JSON.stringify(result.history));
    ae?.dispose();
    tf.disposeVariables();
    const kimg = (p.steps * p.batch) / 1000;
    return { space: p.space, kimg, gParams: result.g.count(), dParams: result.d.count(), backend };
  },
});
