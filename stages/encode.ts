/** Stage `encode`: every image -> its latent code, z-scored per channel, as a float32 Zarr array. */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { writeFloatArray } from "../data/zarr_arrays.ts";
import { mapBatchesAsync } from "../train/autoencoder.ts";
import { encode } from "../models/autoencoder.ts";
import { readAutoencoderFile } from "../models/autoencoder_file.ts";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import { tensorStage } from "./tensor_stage.ts";
import { datasetResolution, readImages, toUnitRange } from "./prepared_dataset.ts";

export const encodeStage = tensorStage({
  name: "encode",
  module: import.meta.url,
  params: z.object({ batch: z.number().int().min(1).default(128) }),
  inputs: { dataset: "prepare.dataset", autoencoder: "train-autoencoder.model" },
  outputs: { codes: "codes.zarr" },
  resources: { exclusive: "accelerator", cpus: 2, mem: "4G", time: "2:00:00" },
  async run(ctx) {
    const model = await readAutoencoderFile(ctx.inputs.autoencoder);
    const config = model.config;
    const ae = new Params(new Rng(0), false);
    ae.loadArrays(model.arrays);
    const res = await datasetResolution(ctx.inputs.dataset);
    const images = await readImages(ctx.inputs.dataset, res);
    const x = toUnitRange(images.data);
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
