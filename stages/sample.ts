/** Stage `sample`: N images from the trained generator's EMA weights (+ decoder in latent mode). */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import type { InputRef } from "../pipeline/stage.ts";
import { readAutoencoderFile } from "../models/autoencoder_file.ts";
import { readDecoderFile } from "../models/decoder_file.ts";
import { slimConfigOf } from "../models/slim_decoder.ts";
import { type DecoderWeights, TrainedGenerator } from "../models/trained_generator.ts";
import { writeFloatArray } from "../data/zarr_arrays.ts";
import { gridPng } from "./grid_png.ts";
import { tensorStage } from "./tensor_stage.ts";

export const sampleStage = tensorStage({
  name: "sample",
  module: import.meta.url,
  params: z.object({
    count: z.number().int().min(1).default(1000),
    gridSize: z.number().int().min(1).max(256).default(64),
    batch: z.number().int().min(1).default(250),
    seed: z.number().int().default(3),
    /** Latent mode: decode with the trained decoder, or with the `compress` stage's. */
    decoder: z.enum(["trained", "compressed"]).default("trained"),
  }),
  inputs: (p, paramsOf): Record<string, InputRef> => {
    if ((paramsOf("train-generator") as { space: string }).space !== "latent") {
      if (p.decoder === "compressed") throw new Error("decoder=compressed needs space=latent");
      return { generator: "train-generator.model" };
    }
    if (p.decoder === "trained") {
      return { generator: "train-generator.model", autoencoder: "train-autoencoder.model" };
    }
    if ((paramsOf("compress") as { source: string }).source !== "autoencoder") {
      throw new Error("decoder=compressed needs compress.source=autoencoder (GAN codes)");
    }
    return { generator: "train-generator.model", decoder: "compress.model" };
  },
  outputs: { samples: "samples.zarr", grid: "grid.png" },
  resources: { exclusive: "accelerator", cpus: 2, mem: "4G", time: "2:00:00" },
  async run(ctx) {
    const p = ctx.params;
    // Latent space: the compress stage's decoder, or the autoencoder's own (its dec.* weights).
    let decoder: DecoderWeights | null = null;
    if (ctx.inputs.decoder) decoder = await readDecoderFile(ctx.inputs.decoder);
    else if (ctx.inputs.autoencoder) {
      const ae = await readAutoencoderFile(ctx.inputs.autoencoder);
      decoder = { arrays: ae.arrays, config: slimConfigOf(ae.config) };
    }
    const gen = await TrainedGenerator.load(ctx.inputs.generator, decoder);
    const { data: out, shape } = await gen.sampleAll(
      p.count,
      p.seed,
      p.batch,
      (done) => ctx.progress(done, p.count, "samples"),
    );
    gen.dispose();
    await writeFloatArray(ctx.outputs.samples, "images", out, [p.count, ...shape], {
      attributes: { range: [-1, 1], space: gen.meta.space },
    });
    const n = Math.min(p.gridSize, p.count);
    const per = shape[0] * shape[1] * shape[2];
    await Deno.writeFile(
      ctx.outputs.grid,
      await gridPng(out.subarray(0, n * per), [n, ...shape], 8),
    );
    tf.disposeVariables();
    return { samples: p.count };
  },
});
