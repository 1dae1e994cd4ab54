/**
 * Stage `compress` (not in the default target; `sample` pulls it in with
 * `--set sample.decoder=compressed`): a device-efficient decoder by condense -> prune -> distill
 * ("Towards Device Efficient Conditional Image Generation", 2022; train/compress.ts). The teacher
 * is the decoder of `train-autoencoder` (`source: autoencoder`) or of the edge-map -> image
 * network of `train-conditional` (`source: conditional`). Codes come from encoding the prepared
 * images (or their edge maps) with the model's own encoder; the threshold is chosen on a
 * calibration slice of the training images, and everything is reported on the same held-out
 * images as the teacher's stage.
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { readFloatArray } from "../data/zarr_arrays.ts";
import { sobelEdges } from "../data/edges.ts";
import { encode } from "../models/autoencoder.ts";
import { readAutoencoderFile } from "../models/autoencoder_file.ts";
import { writeDecoderFile } from "../models/decoder_file.ts";
import {
  decoderArrays,
  decoderCost,
  slimConfigOf,
  type SlimDecoderConfig,
} from "../models/slim_decoder.ts";
import { mapBatchesAsync, psnr } from "../train/autoencoder.ts";
import { compressDecoder } from "../train/compress.ts";
import type { CompressTarget } from "../train/compress_options.ts";
import { decodeAll, paramsFrom } from "../train/compress_pruning.ts";
import { decoderLatencies } from "../train/decoder_latency.ts";
import type { NamedArray } from "../nn/tensor_file.ts";
import { gridPng } from "./grid_png.ts";
import { checkpointHooks } from "./checkpoint_hooks.ts";
import { tensorStage } from "./tensor_stage.ts";
import { holdoutCount, toUnitRange } from "./prepared_dataset.ts";
import { trainingProgress } from "./training_progress.ts";

const params = z.object({
  /** Whose decoder: the autoencoder's, or the conditional (edges -> image) network's. */
  source: z.enum(["autoencoder", "conditional"]).default("autoencoder"),
  /** Target: the most pruning whose PSNR loss against the originals stays within this... */
  maxPsnrLossDb: z.number().min(0).default(1),
  /** ...or, when set, a channel budget: the fraction of hidden channels kept. */
  keepFraction: z.number().gt(0).max(1).optional(),
  minChannels: z.number().int().min(1).default(2),
  condenseSteps: z.number().int().min(0).default(300),
  distillSteps: z.number().int().min(0).default(300),
  /**
   * Distillation steps of each probe of the prune-count search (PSNR target only); unset: full
   * length, and the chosen probe's student is the result.
   */
  probeSteps: z.number().int().min(0).optional(),
  batch: z.number().int().min(1).max(512).default(32),
  /** Learning rate of the scales while condensing. */
  lr: z.number().positive().max(1).default(1e-2),
  /** Learning rate of the weights while condensing (0 freezes them). */
  weightLr: z.number().min(0).max(1).default(1e-3),
  distillLr: z.number().positive().max(1).default(3e-3),
  /** Weight of the L1 penalty on the scales (summed over all hidden channels). */
  l1: z.number().min(0).default(3e-3),
  /**
   * "flops": each conv's scales are penalised in proportion to the FLOPs one channel costs;
   * "latency": to its multiply-adds as the compiled decoder runs them (output channels padded
   * to the CPU's vector width).
   */
  l1Weighting: z.enum(["flops", "latency", "uniform"]).default("latency"),
  /**
   * Output channels a CPU conv kernel computes at once, for "latency" weighting: 16 (AVX-512)
   * by default, so a run gives the same network on any machine; 8 suits AVX2-only CPUs.
   */
  vectorWidth: z.number().int().min(1).max(64).default(16),
  featureWeight: z.number().min(0).default(1),
  /** Whose outputs the distillation's pixel loss aims at (the PSNR loss is against the original). */
  pixelsFrom: z.enum(["condensed", "original"]).default("original"),
  /** Whose hidden activations the student's (1x1-adapted) features match. */
  featuresFrom: z.enum(["condensed", "original"]).default("condensed"),
  /** What the condensation's reconstruction loss aims at. */
  condenseTarget: z.enum(["teacher", "images"]).default("teacher"),
  /** Training images whose codes the fine-tuning uses. */
  images: z.number().int().min(16).default(4096),
  /** Training images (not fine-tuned on) on which the threshold is chosen. */
  calibration: z.number().int().min(8).default(256),
  latencyReps: z.number().int().min(1).default(15),
  checkpointEvery: z.number().int().min(1).default(100),
  seed: z.number().int().default(1),
});

const UPSTREAM = { autoencoder: "train-autoencoder", conditional: "train-conditional" } as const;

export const compressStage = tensorStage({
  name: "compress",
  module: import.meta.url,
  params,
  inputs: (p) => ({ model: `${UPSTREAM[p.source]}.model`, dataset: "prepare.dataset" }),
  outputs: {
    model: "decoder.gft",
    summary: "compress.json",
    latency: "latency.json",
    comparison: "comparison.png",
    history: "history.json",
  },
  nondeterministic: ["latency"],
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
    const model = await readAutoencoderFile(ctx.inputs.model);
    const { config: aeConfig, imageSize: res, codeShape, condition: cond } = model;
    if ((p.source === "conditional") !== Boolean(cond)) {
      throw new Error(`compress: source ${p.source} but the model has condition ${cond}`);
    }
    const all = await readFloatArray(ctx.inputs.dataset, `images/${res}`);
    const count = all.shape[0];
    const per = res * res * 3;
    const upstream = ctx.records[UPSTREAM[p.source]]?.metrics as { holdout?: number } | undefined;
    const holdout = upstream?.holdout ?? holdoutCount(256, count);
    const calN = Math.min(p.calibration, Math.floor((count - holdout) / 4));
    const trainN = Math.min(p.images, count - holdout - calN);
    const slice = (from: number, n: number) =>
      toUnitRange(all.data.subarray(from * per, (from + n) * per));
    const sets = {
      train: slice(0, trainN),
      calibration: slice(count - holdout - calN, calN),
      holdout: slice(count - holdout, holdout),
    };

    // Codes from the model's own encoder (of the images, or of their edge maps).
    const ae = paramsFrom(model.arrays);
    const condition = (x: Float32Array) => cond ? sobelEdges(x, [res, res, 3], cond.threshold) : x;
    const inC = cond ? 1 : 3;
    const codesOf = async (x: Float32Array) =>
      (await mapBatchesAsync(condition(x), [res, res, inC], 64, (t) => encode(ae, aeConfig, t)))
        .data;
    const codes = {
      train: await codesOf(sets.train),
      calibration: await codesOf(sets.calibration),
      holdout: await codesOf(sets.holdout),
    };
    ae.dispose();
    const config = slimConfigOf(aeConfig);
    const teacher = decoderArrays(model.arrays);
    const tp = paramsFrom(teacher);
    const reference = {
      train: await decodeAll(tp, config, codes.train, codeShape),
      calibration: await decodeAll(tp, config, codes.calibration, codeShape),
      holdout: await decodeAll(tp, config, codes.holdout, codeShape),
    };
    ctx.log(
      `${trainN} training, ${calN} calibration, ${holdout} held-out images; teacher channels ` +
        `[${config.channels}]`,
    );

    const target: CompressTarget = p.keepFraction !== undefined
      ? { keepFraction: p.keepFraction }
      : { maxPsnrLossDb: p.maxPsnrLossDb };
    const progress = trainingProgress(ctx, backend, p.condenseSteps + p.distillSteps);
    const result = await compressDecoder({
      teacher,
      config,
      train: {
        codes: codes.train,
        codeShape,
        targets: p.condenseTarget === "teacher" ? reference.train : sets.train,
        imageShape: [res, res, 3],
      },
      calibration: {
        codes: codes.calibration,
        codeShape,
        originals: sets.calibration,
        reference: reference.calibration,
      },
      target,
      minChannels: p.minChannels,
      condenseSteps: p.condenseSteps,
      distillSteps: p.distillSteps,
      batch: p.batch,
      seed: p.seed,
      lr: p.lr,
      weightLr: p.weightLr,
      distillLr: p.distillLr,
      probeSteps: p.probeSteps,
      l1: p.l1,
      l1Weighting: p.l1Weighting,
      vectorWidth: p.vectorWidth,
      featureWeight: p.featureWeight,
      pixelsFrom: p.pixelsFrom,
      featuresFrom: p.featuresFrom,
      checkpoint: await checkpointHooks(ctx, p.checkpointEvery),
      onProgress: (s, t, phase, l) =>
        progress(
          s,
          t,
          phase === "condense"
            ? `condense rec ${l.rec.toFixed(4)} sum|s| ${l.l1.toFixed(2)}`
            : `distill pixel ${l.pixel.toFixed(4)} feature ${l.feature.toFixed(4)}`,
        ),
    });

    // Held-out figures: teacher, pruned only, distilled student.
    const evaluate = async (arrays: Record<string, NamedArray>, cfg: SlimDecoderConfig) => {
      const q = paramsFrom(arrays);
      const out = await decodeAll(q, cfg, codes.holdout, codeShape);
      const cost = decoderCost(cfg, codeShape[0], codeShape[1]);
      q.dispose();
      return {
        out,
        figures: {
          channels: cfg.channels,
          params: cost.params,
          flops: cost.flops,
          psnrVsTeacher: psnr(out, reference.holdout),
          psnrVsOriginals: psnr(out, sets.holdout),
        },
      };
    };
    tp.dispose();
    const before = await evaluate(teacher, config);
    const prunedOnly = await evaluate(result.pruned.arrays, result.pruned.config);
    const after = await evaluate(result.student.arrays, result.student.config);
    // CPU latency of the teacher and the compressed decoder, measured in turns.
    const pair = [
      { arrays: teacher, config },
      { arrays: result.student.arrays, config: result.student.config },
    ];
    const [t1, s1] = decoderLatencies(pair, codeShape, 1, p.latencyReps);
    const [t16, s16] = decoderLatencies(pair, codeShape, 16, p.latencyReps);
    const lossDb = before.figures.psnrVsOriginals - after.figures.psnrVsOriginals;
    const summary = {
      source: p.source,
      target,
      imageSize: res,
      codeShape,
      holdout,
      keep: result.keep,
      threshold: result.threshold,
      selection: result.selection,
      calibrationLossDb: result.calibrationLossDb,
      before: before.figures,
      prunedOnly: prunedOnly.figures,
      after: after.figures,
      psnrLossDb: lossDb,
      targetMet: "maxPsnrLossDb" in target ? lossDb <= target.maxPsnrLossDb : null,
      paramRatio: before.figures.params / after.figures.params,
      flopRatio: before.figures.flops / after.figures.flops,
    };
    const latency = {
      backend,
      reps: p.latencyReps,
      before: { batch1: t1, batch16: t16 },
      after: { batch1: s1, batch16: s16 },
      speedupBatch1: t1.msPerBatch / s1.msPerBatch,
      speedupBatch16: t16.msPerBatch / s16.msPerBatch,
    };
    await writeDecoderFile(ctx.outputs.model, {
      arrays: result.student.arrays,
      config: result.student.config,
      teacherConfig: config,
      autoencoderConfig: aeConfig,
      imageSize: res,
      codeShape,
      source: p.source,
      keep: result.keep,
    });
    await Deno.writeTextFile(ctx.outputs.summary, JSON.stringify(summary, null, 1));
    await Deno.writeTextFile(ctx.outputs.latency, JSON.stringify(latency, null, 1));
    await Deno.writeTextFile(ctx.outputs.history, JSON.stringify(result.history));
    // Rows: originals, teacher, pruned only, compressed (distilled).
    const show = Math.min(8, holdout);
    const grid = new Float32Array(4 * show * per);
    [sets.holdout, before.out, prunedOnly.out, after.out].forEach((x, r) =>
      grid.set(x.subarray(0, show * per), r * show * per)
    );
    await Deno.writeFile(
      ctx.outputs.comparison,
      await gridPng(grid, [4 * show, res, res, 3], show),
    );
    ctx.log(
      `channels ${sum(config.channels)} -> ${sum(result.student.config.channels)}, ` +
        `params ${summary.paramRatio.toFixed(2)}x, FLOPs ${summary.flopRatio.toFixed(2)}x fewer; ` +
        `PSNR vs originals ${before.figures.psnrVsOriginals.toFixed(2)} -> ` +
        `${after.figures.psnrVsOriginals.toFixed(2)} dB (pruned only ` +
        `${prunedOnly.figures.psnrVsOriginals.toFixed(2)}), vs teacher ` +
        `${after.figures.psnrVsTeacher.toFixed(2)} dB; batch-1 latency ` +
        `${latency.speedupBatch1.toFixed(2)}x, batch-16 ${
          latency.speedupBatch16.toFixed(2)
        }x faster`,
    );
    tf.disposeVariables();
    return { ...summary, latency, backend };
  },
});

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
