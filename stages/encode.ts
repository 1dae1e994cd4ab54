/** Stage `encode`: every image -> its latent code, z-scored per channel, as a float32 Zarr array. */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { defineStage } from "../pipeline/stage.ts";
import { readFloatArray, writeFloatArray } from "../data/zarr_batches.ts";
import { readAttributes } from "../data/zarr_io.ts";
import { mapBatchesAsync } from "../train/autoencoder.ts";
import { encode } from "../models/autoencoder.ts";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import { readModel, startBackend } from "./common.ts";
import type { AutoencoderConfig } from "../models/autoencoder.ts";

export const encodeStage = defineStage({
  name: "encode",
  module: import.meta.url,
  params: z.object({ batch: z.number().int().min(1).default(128) }),
  inputs: { dataset: "prepare.dataset", autoencoder: "train-autoencoder.model" },
  outputs: { codes: "codes.zarr" },
  resource: "accelerator",
  uses: ["backend"],
  async run(ctx) {
    await startBackend(ctx);
    const model = await readModel(ctx.inputs.autoencoder);
    const config = model.meta.config as AutoencoderConfig;
    const ae = new Params(new Rng(0), false);
    ae.loadArrays(model.arrays);
    const res = (await readAttributes(ctx.inputs.dataset, "")).resolution as number;
    const images = await readFloatArray(ctx.inputs.dataset, `images/${res}`);
    const x = images.data.map((v) => v / 127.5 - 1);
    let done = 0;
    const n = images.shape[0];
    const codes = await mapBatchesAsync(x, [res, res, 3], ctx.params.batch, (t) => {
      done += t.shape[0];
      ctx.progress(done, n, "images encoded");
      return encode(ae, config, t);
    });
    const c = codes.shape[2];
    const mean = new Array(c).fill(0), sq = new Array(c).fill(0);
    for (let i = 0; i < codes.data.length; i++) {
      mean[i % c] += codes.data[i];
      sq[i % c] += codes.data[i] ** 2;
    }
    const count = codes.data.length / c;
    const std = mean.map((m, k) => Math.sqrt(Math.max(sq[k] / count - (m / count) ** 2, 1e-12)));
    for (let k = 0; k < c; k++) mean[k] /= count;
    for (let i = 0; i < codes.data.length; i++) {
      codes.data[i] = (codes.data[i] - mean[i % c]) / std[i % c];
    }
    await writeFloatArray(ctx.outputs.codes, "codes", codes.data, [n, ...codes.shape], {
      attributes: { mean, std, note: "codes are z-scored per channel: raw = code * std + mean" },
    });
    ae.dispose();
    tf.disposeVariables();
    return { codes: n, codeShape: codes.shape };
  },
});
