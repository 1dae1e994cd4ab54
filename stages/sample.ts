/** Stage `sample`: N images from the trained generator's EMA weights (+ decoder in latent mode). */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { defineStage, type InputRef } from "../pipeline/stage.ts";
import { type GanConfig, generate } from "../models/gan.ts";
import type { AutoencoderConfig } from "../models/autoencoder.ts";
import { slimChain, slimConfigOf, type SlimDecoderConfig } from "../models/slim_decoder.ts";
import type { ChainRunner } from "../backend/chain_runner.ts";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import { sampleLatents } from "../train/gan.ts";
import { writeFloatArray } from "../data/zarr_batches.ts";
import { gridPng, readModel, startBackend } from "./common.ts";

export const sampleStage = defineStage({
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
  resource: "accelerator",
  uses: ["backend"],
  async run(ctx) {
    await startBackend(ctx);
    const p = ctx.params;
    const gen = await readModel(ctx.inputs.generator);
    const config = gen.meta.config as GanConfig;
    const g = new Params(new Rng(0), false);
    g.loadArrays(gen.arrays, "E/");
    let post = (x: tf.Tensor4D) => x;
    let dec: ChainRunner | null = null;
    if (gen.meta.space === "latent") {
      // The compress stage's decoder, or the autoencoder's own (its dec.* weights).
      const compressed = p.decoder === "compressed";
      const model = await readModel(compressed ? ctx.inputs.decoder : ctx.inputs.autoencoder);
      const cfg = compressed
        ? model.meta.config as SlimDecoderConfig
        : slimConfigOf(model.meta.config as AutoencoderConfig);
      const runner = dec = slimChain(model.arrays, cfg);
      const { mean, std } = gen.meta.codeStats as { mean: number[]; std: number[] };
      post = (x) => runner.run(tf.add(tf.mul(x, std), mean) as tf.Tensor4D);
    }
    const rng = new Rng(p.seed);
    let out: Float32Array | null = null;
    let shape: [number, number, number] = [0, 0, 0];
    for (let i = 0; i < p.count; i += p.batch) {
      const m = Math.min(p.batch, p.count - i);
      const imgs = tf.tidy(() => post(generate(g, config, sampleLatents(rng, m, config.zDim))));
      if (!out) {
        shape = imgs.shape.slice(1) as [number, number, number];
        out = new Float32Array(p.count * shape[0] * shape[1] * shape[2]);
      }
      out.set(await imgs.data() as Float32Array, i * shape[0] * shape[1] * shape[2]);
      imgs.dispose();
      ctx.progress(i + m, p.count, "samples");
    }
    dec?.dispose();
    await writeFloatArray(ctx.outputs.samples, "images", out!, [p.count, ...shape], {
      attributes: { range: [-1, 1], space: gen.meta.space },
    });
    const n = Math.min(p.gridSize, p.count);
    const per = shape[0] * shape[1] * shape[2];
    await Deno.writeFile(
      ctx.outputs.grid,
      await gridPng(out!.subarray(0, n * per), [n, ...shape], 8),
    );
    tf.disposeVariables();
    return { samples: p.count };
  },
});
