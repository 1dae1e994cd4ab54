/**
 * Stage `train-conditional` (not in the default target): an edge-map -> image network on the
 * prepared dataset (condition: thresholded Sobel magnitude of the image, data/edges.ts), so the
 * `compress` stage (`--set compress.source=conditional`) shows condense/prune/distill on
 * conditional generation too. Run: `deno task pipeline run compress --set compress.source=conditional`.
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { sobelEdges } from "../data/edges.ts";
import { generateFrom, trainConditional } from "../train/conditional.ts";
import { mapBatchesAsync, psnr } from "../train/autoencoder.ts";
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
  latentChannels: z.number().int().min(1).max(64).default(8),
  width: z.number().int().min(4).max(256).default(16),
  /** Sobel magnitude (of luma in [0, 1]) above which a pixel is an edge. */
  edgeThreshold: z.number().positive().default(1),
  steps: z.number().int().min(1).default(600),
  batch: z.number().int().min(1).max(512).default(32),
  lr: z.number().positive().max(1).default(2e-3),
  holdout: z.number().int().min(8).default(256),
  checkpointEvery: z.number().int().min(1).default(200),
  seed: z.number().int().default(1),
});

export const trainConditionalStage = tensorStage({
  name: "train-conditional",
  module: import.meta.url,
  params,
  inputs: { dataset: "prepare.dataset" },
  outputs: { model: "conditional.gft", samples: "samples.png", history: "history.json" },
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
    const condition = (x: Float32Array) => sobelEdges(x, [res, res, 3], p.edgeThreshold);
    const progress = trainingProgress(ctx, backend, p.steps);
    const result = await trainConditional({
      config,
      data,
      condition,
      conditionChannels: 1,
      steps: p.steps,
      seed: p.seed,
      lr: p.lr,
      checkpoint: await checkpointHooks(ctx, p.checkpointEvery),
      onProgress: (s, t, l) => progress(s, t, `L1 ${l.l1.toFixed(4)}`),
    });
    await data.close();
    const per = res * res * 3;
    const held = await split.heldOut();
    const edges = condition(held);
    const gen = await mapBatchesAsync(
      edges,
      [res, res, 1],
      64,
      (x) => generateFrom(result.params, config, x),
    );
    const heldPsnr = psnr(gen.data, held);
    // Rows: edge maps (grey), generated images, the real images.
    const show = Math.min(8, holdout);
    const grid = new Float32Array(3 * show * per);
    for (let i = 0; i < show * res * res; i++) grid.fill(edges[i], 3 * i, 3 * i + 3);
    grid.set(gen.data.subarray(0, show * per), show * per);
    grid.set(held.subarray(0, show * per), 2 * show * per);
    await Deno.writeFile(ctx.outputs.samples, await gridPng(grid, [3 * show, res, res, 3], show));
    const codeShape: [number, number, number] = [res / p.factor, res / p.factor, p.latentChannels];
    await onHost(result.params.list()); // a GPU backend reads the weights asynchronously first
    await writeAutoencoderFile(ctx.outputs.model, {
      arrays: result.params.toArrays(),
      config,
      imageSize: res,
      codeShape,
      condition: { kind: "sobel", threshold: p.edgeThreshold, channels: 1 },
    });
    await Deno.writeTextFile(ctx.outputs.history, JSON.stringify(result.history));
    ctx.log(`held-out PSNR (edges -> image) ${heldPsnr.toFixed(2)} dB on ${holdout} images`);
    result.params.dispose();
    tf.disposeVariables();
    return { psnr: heldPsnr, holdout, backend };
  },
});
