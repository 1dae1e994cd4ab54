/**
 * Stage `train-generator`: the GAN of the two-stage method, trained on latent codes
 * (`space: "latent"`, decoded through the autoencoder for pictures) or, as the baseline the
 * acceleration is measured against, directly on pixels (`space: "pixel"`). The generator
 * training methods of the other seed papers are options that combine freely: `arch` (DCGAN,
 * ProGAN, FastGAN), `conv: "separable"`, `growth` (progressive), `schedule: "one-stage"`, and a
 * projected discriminator on a frozen feature network. `precision: "bf16"` trains with bf16
 * convolutions and matmuls where the CPU has them (backend/precision.ts).
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { join } from "node:path";
import type { InputRef } from "../pipeline/stage.ts";
import { openImageBatches } from "../data/image_batches.ts";
import { openArrayBatches } from "../data/zarr_arrays.ts";
import { readAttributes } from "../data/zarr_io.ts";
import { trainGan } from "../train/gan.ts";
import { AUGMENTATIONS } from "../train/diff_augment.ts";
import type { GanConfig } from "../models/gan.ts";
import { encoderFeatures } from "../models/autoencoder.ts";
import { readAutoencoderFile } from "../models/autoencoder_file.ts";
import { slimConfigOf } from "../models/slim_decoder.ts";
import {
  type CodeStats,
  type GeneratorMeta,
  LatentDecoder,
  writeGeneratorFile,
} from "../models/trained_generator.ts";
import { type FeatureNet, projectFeatures } from "../models/projected_d.ts";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import { MetaFields } from "../nn/meta_fields.ts";
import { median } from "../nn/stats.ts";
import { backendMemory, resetPeakMemory, tracksMemory } from "../backend/memory.ts";
import { ganRecipe } from "../train/recipe.ts";
import { gridPng } from "./grid_png.ts";
import { checkpointHooks } from "./checkpoint_hooks.ts";
import { tensorStage } from "./tensor_stage.ts";
import { datasetResolution } from "./prepared_dataset.ts";
import { trainingProgress } from "./training_progress.ts";
import { clusterArray, type DataClusters } from "./data_clusters.ts";
import { onHost } from "../backend/host_read.ts";
import { PRECISIONS, usePrecision } from "../backend/precision.ts";

const params = z.object({
  space: z.enum(["latent", "pixel"]).default("latent"),
  arch: z.enum(["dcgan", "progan", "fastgan"]).default("dcgan"),
  /** G's 3x3 convs; `separableD` also makes D's separable. */
  conv: z.enum(["standard", "separable"]).default("standard"),
  separableD: z.boolean().default(false),
  discriminator: z.enum(["standard", "projected"]).default("standard"),
  /** Projected D's frozen features: the trained encoder, or a path to an autoencoder file. */
  featureNet: z.string().default("autoencoder"),
  /** "auto": wgan-gp for progan (as the paper), logistic otherwise. */
  loss: z.enum(["auto", "logistic", "wgan", "wgan-gp", "hinge"]).default("auto"),
  gpLambda: z.number().min(0).default(10),
  drift: z.number().min(0).default(1e-3),
  /**
   * R1 penalty on D at the real samples (0: none), applied every `r1Every` steps; unset: 1
   * for the logistic and hinge losses, none for WGAN's and ProGAN.
   */
  r1Gamma: z.number().min(0).optional(),
  r1Every: z.number().int().min(1).default(4),
  /** D (DCGAN's, also FastGAN's) sees the minibatch standard deviation (ProGAN's always does). */
  mbstd: z.boolean().default(true),
  schedule: z.enum(["two-stage", "one-stage"]).default("two-stage"),
  /** Progressive growing (arch progan): e.g. {"start": 4, "fadeKimg": 30, "stableKimg": 30}. */
  growth: z.object({
    start: z.number().int().min(4).default(4),
    fadeKimg: z.number().positive(),
    stableKimg: z.number().positive(),
    batchByResolution: z.record(z.string(), z.number().int().min(1)).optional(),
  }).nullable().default(null),
  steps: z.number().int().min(1).default(1500),
  batch: z.number().int().min(1).max(1024).default(64),
  zDim: z.number().int().min(1).max(1024).default(64),
  /**
   * A discrete part of G's prior: one of this many modes per sample (0: none; GanConfig). 100
   * took the share of legible samples from 75% to 86% at the same SWD (docs/quality.md).
   */
  zModes: z.number().int().min(0).max(1024).default(100),
  /**
   * The modes are k-means clusters of the training codes (pixel space: images at 16x16 at
   * most), drawn with their shares, and D is told each sample's cluster (self-conditioning,
   * Liu et al. 2020). Needs `zModes`.
   */
  selfCondition: z.boolean().default(false),
  baseChannels: z.number().int().min(8).max(8192).default(128),
  /** Width cap (ProGAN's fmap_max): see GanConfig.maxChannels. */
  maxChannels: z.number().int().min(8).max(1024).optional(),
  /** Adam; unset: ProGAN's (1e-3, 0, 0.99) for every architecture. */
  lr: z.number().positive().max(1).optional(),
  /** D's learning rate, where it differs from G's `lr` (TTUR). */
  dLr: z.number().positive().max(1).optional(),
  beta1: z.number().min(0).max(1).optional(),
  beta2: z.number().min(0).max(1).optional(),
  /** The EMA of G's weights: its decay ramps up as (1 + step) / (10 + step), capped here. */
  emaDecay: z.number().min(0).max(1).default(0.99),
  /**
   * The last fraction of the steps over which the learning rates fall to 0 (a half cosine):
   * with `emaDecay` 0.99, 0.3 took the default's SWD from 13.3 to 11.5 (docs/quality.md).
   */
  lrRampdown: z.number().min(0).max(1).default(0.3),
  /**
   * Differentiable augmentation of everything D sees (DiffAugment, Zhao et al. 2020):
   * ["translation"], ["cutout"] or both.
   */
  augment: z.array(z.enum(AUGMENTATIONS)).default([]),
  /** G learns from this fraction of each batch, the samples D rates most real (two-stage). */
  gTopK: z.number().gt(0).max(1).default(1),
  checkpointEvery: z.number().int().min(1).default(250),
  sampleEvery: z.number().int().min(1).default(250),
  seed: z.number().int().default(2),
  /**
   * "bf16": convolutions and matmuls read bf16 copies of their inputs and accumulate in fp32;
   * weights, gradients and Adam's state stay fp32. Only on the onednn backend where the CPU has
   * AVX-512 BF16 or AMX; elsewhere a note and fp32 (the run's metrics say which ran).
   */
  precision: z.enum(PRECISIONS).default("fp32"),
});

type TrainGeneratorParams = z.infer<typeof params>;

/** What self-conditioning needs, refused by name before any work. */
function checkSelfCondition(p: TrainGeneratorParams): void {
  const why = p.zModes < 2
    ? `zModes ${p.zModes}: it needs the number of clusters (e.g. 100)`
    : p.arch !== "dcgan"
    ? `arch "${p.arch}": only DCGAN's D takes modes`
    : p.schedule !== "two-stage"
    ? 'schedule "one-stage": use "two-stage"'
    : p.loss === "wgan-gp"
    ? "the gradient penalty mixes samples of different clusters: use another loss"
    : p.discriminator !== "standard"
    ? "a projected discriminator takes no modes"
    : null;
  if (why) throw new Error(`selfCondition: ${why}`);
}

function needsAutoencoder(p: TrainGeneratorParams): boolean {
  return p.space === "latent" ||
    (p.discriminator === "projected" && p.featureNet === "autoencoder");
}

export const trainGeneratorStage = tensorStage({
  name: "train-generator",
  module: import.meta.url,
  params,
  inputs: (p): Record<string, InputRef> => ({
    ...(p.space === "latent" ? { codes: "encode.codes" } : { dataset: "prepare.dataset" }),
    ...(needsAutoencoder(p) ? { autoencoder: "train-autoencoder.model" } : {}),
    ...(p.discriminator === "projected" && p.featureNet !== "autoencoder"
      ? { featureNet: { path: p.featureNet } }
      : {}),
  }),
  outputs: {
    model: "generator.gft",
    history: "history.json",
    progress: "progress",
    snapshots: "snapshots",
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
    const latent = p.space === "latent";
    if (p.discriminator === "projected" && latent) {
      throw new Error(
        "a projected discriminator judges image features; in latent space there are no images " +
          'to extract them from. Use space "pixel" with discriminator "projected".',
      );
    }
    if (p.selfCondition) checkSelfCondition(p);
    if (p.growth && p.arch !== "progan") {
      throw new Error(`growth (progressive growing) needs arch "progan", not "${p.arch}"`);
    }
    const batchSize = Math.max(p.batch, ...Object.values(p.growth?.batchByResolution ?? {}));
    const data = latent
      ? await openArrayBatches({ store: ctx.inputs.codes, array: "codes", batchSize, seed: p.seed })
      : await openImageBatches({
        store: ctx.inputs.dataset,
        resolution: await datasetResolution(ctx.inputs.dataset),
        batchSize,
        seed: p.seed,
      });
    const shape = [...data.sampleShape] as [number, number, number];
    let clusters: DataClusters | null = null;
    if (p.selfCondition) {
      // Pixels are clustered at 16x16 at most (the pyramid's rows are the same images): shapes
      // decide the clusters, and a large dataset's full-size pixels need not fit in memory.
      const [store, array] = latent
        ? [ctx.inputs.codes, "codes"]
        : [ctx.inputs.dataset, `images/${Math.min(16, shape[0])}`];
      ctx.log(`clustering the training ${latent ? "codes" : "images"} into ${p.zModes} (k-means)`);
      clusters = await clusterArray(store, array, p.zModes, p.seed);
    }
    const config: GanConfig = {
      shape,
      zDim: p.zDim,
      ...(p.zModes > 0 ? { zModes: p.zModes } : {}),
      ...(clusters ? { modeWeights: clusters.weights, conditionD: true } : {}),
      baseChannels: p.baseChannels,
      maxChannels: p.maxChannels,
      tanh: !latent,
      arch: p.arch,
      conv: p.conv,
      separableD: p.separableD,
      discriminator: p.discriminator,
      ...(p.mbstd && p.arch !== "progan" ? { mbstd: true } : {}),
    };
    const recipe = ganRecipe({
      arch: p.arch,
      loss: p.loss,
      gp: { gpLambda: p.gpLambda, drift: p.drift },
      lr: p.lr,
      beta1: p.beta1,
      beta2: p.beta2,
      r1Gamma: p.r1Gamma,
      r1Every: p.r1Every,
    });
    // In latent mode, pictures of progress are codes decoded through the autoencoder.
    let toImages = (x: tf.Tensor4D) => x;
    let decoder: LatentDecoder | null = null;
    let codeStats: CodeStats | null = null;
    let features: FeatureNet | undefined;
    const aeFile = needsAutoencoder(p)
      ? ctx.inputs.autoencoder
      : p.discriminator === "projected"
      ? ctx.inputs.featureNet
      : null;
    const ae = aeFile ? await readAutoencoderFile(aeFile) : null;
    const aeParams = new Params(new Rng(0), false);
    if (ae) aeParams.loadArrays(ae.arrays);
    if (latent) {
      const attrs = MetaFields.of(
        await readAttributes(ctx.inputs.codes, "codes"),
        `${ctx.inputs.codes} codes`,
      );
      codeStats = { mean: attrs.numbers("mean"), std: attrs.numbers("std") };
      const dec = decoder = new LatentDecoder(
        { arrays: ae!.arrays, config: slimConfigOf(ae!.config) },
        codeStats,
      );
      toImages = (x) => dec.decode(x);
    }
    if (p.discriminator === "projected") {
      const aeConfig = ae!.config;
      features = projectFeatures((x) => encoderFeatures(aeParams, aeConfig, x), p.seed ^ 0xccc);
    }
    await Deno.mkdir(ctx.outputs.progress, { recursive: true });
    await Deno.mkdir(ctx.outputs.snapshots, { recursive: true });
    const stepName = (step: number) => `step-${String(step).padStart(7, "0")}`;
    const meta: GeneratorMeta = { config, space: p.space, codeStats };
    const ckpt = await checkpointHooks(ctx, p.checkpointEvery, [
      ctx.outputs.progress,
      ctx.outputs.snapshots,
    ]);
    // Tensor memory held at the peak of training (weights, optimizer state, EMA, the step's
    // working set), where the backend tracks it (onednn).
    const tracked = tracksMemory();
    const liveBefore = tracked ? backendMemory().live : 0;
    if (tracked) resetPeakMemory();
    const progress = trainingProgress(ctx, backend, p.steps);
    const precision = usePrecision(p.precision, { log: (line) => ctx.log(line) });
    const result = await trainGan({
      config,
      data,
      batch: p.batch,
      steps: p.steps,
      seed: p.seed,
      ...recipe.options,
      dLr: p.dLr,
      emaDecay: p.emaDecay,
      lrRampdown: p.lrRampdown,
      gTopK: p.gTopK,
      augment: p.augment,
      ...(clusters
        ? {
          realModes: (step: number) =>
            Int32Array.from(data.indices!(step), (i) => clusters!.assignment[i]),
        }
        : {}),
      schedule: p.schedule,
      growth: p.growth ?? undefined,
      features,
      checkpoint: ckpt,
      samples: {
        every: p.sampleEvery,
        count: 32,
        onSample: async (step, x) => {
          const imgs = toImages(x);
          await Deno.writeFile(
            join(ctx.outputs.progress, `${stepName(step)}.png`),
            await gridPng(imgs),
          );
          imgs.dispose();
        },
      },
      snapshots: {
        every: p.sampleEvery,
        // A growing GAN's snapshot records its phase, so it is sampled as it was trained.
        save: async (step, ema, phase) => {
          await onHost(ema.list()); // a GPU backend reads the weights asynchronously first
          await writeGeneratorFile(
            join(ctx.outputs.snapshots, `${stepName(step)}.gft`),
            ema.toArrays("E/"),
            { ...meta, step, ...(p.growth ? { phase } : {}) },
          );
        },
      },
      onProgress: (s, t, l) =>
        progress(
          s,
          t,
          `D ${l.d.toFixed(3)} G ${l.g.toFixed(3)}` +
            (l.resolution ? ` ${l.resolution}px alpha ${l.alpha!.toFixed(2)}` : ""),
        ),
    }).finally(() => precision.end());
    await data.close();
    const peakMB = tracked ? (backendMemory().peak - liveBefore) / 2 ** 20 : null;
    // Median step time at the final resolution (a growing GAN's earlier phases are cheaper).
    const final = result.stepTimes.filter((t) => t.resolution === config.shape[0]).map((t) => t.ms);
    const msPerStep = final.length ? median(final) : null;
    if (msPerStep !== null) {
      ctx.log(
        `${msPerStep.toFixed(0)} ms per step at ${config.shape[0]}px` +
          (peakMB !== null ? `, peak tensor memory ${peakMB.toFixed(0)} MB` : ""),
      );
    }
    await onHost([...result.ema.list(), ...result.g.list()]);
    await writeGeneratorFile(ctx.outputs.model, {
      ...result.ema.toArrays("E/"),
      ...result.g.toArrays("G/"),
    }, meta);
    await Deno.writeTextFile(ctx.outputs.history, JSON.stringify(result.history));
    aeParams.dispose();
    decoder?.dispose();
    tf.disposeVariables();
    // Images shown: progressive growing's batch varies by resolution (not steps x batch).
    const kimg = result.images / 1000;
    return {
      space: p.space,
      arch: p.arch,
      conv: p.conv,
      schedule: p.schedule,
      loss: recipe.lossName,
      r1Gamma: recipe.options.r1?.gamma ?? 0,
      kimg,
      gParams: result.g.count(),
      dParams: result.d.count(),
      backend,
      // What ran: a bf16 request runs fp32 where the CPU or backend lacks bf16.
      precision: precision.precision,
      ...(msPerStep !== null ? { msPerStep } : {}),
      ...(peakMB !== null ? { peakMB } : {}),
    };
  },
});
