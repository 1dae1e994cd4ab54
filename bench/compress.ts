/**
 * `deno task bench compress`: the decoder before and after condense -> prune -> distill
 * (train/compress.ts), in one run, at 64² and 256² output: images/s at batch 1 and 16 on this
 * machine's CPU backend (as the decode stages run them, compiled, and as tfjs ops), parameters,
 * FLOPs, and the PSNR loss against the originals (and the PSNR against the teacher's decodes) on
 * held-out images. Target: >= 3x faster with <= 1 dB.
 *
 * Data: the built-in MNIST digits upscaled to 256² (`upscaleSmall`), 64² being the pyramid level
 * below. Teacher: an autoencoder with factor 8 (codes 8x8x4 at 64², 32x32x4 at 256²), width 16,
 * trained here for `--ae-steps`. At 256² the autoencoder and the compression are trained on
 * random 64² crops (both networks are fully convolutional) and evaluated on the full images:
 * training at 256² outright would take this 2-core machine hours.
 * Flags: --ae-steps=N (default 600), --condense=N (300), --distill=N (300), --probe=N (= distill),
 * --res=64,256, --max-loss=DB (default 1), --weighting=flops|latency|uniform (the L1 penalty's),
 * --reps=N (timing rounds at batch 1, default 41; a quarter of that at batch 16).
 */
import type { BenchRecorder } from "./results.ts";
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { initBackend } from "../backend/mod.ts";
import { simdFloats } from "../backend/simd.ts";
import { prepareDataset } from "../data/prepare.ts";
import { readFloatArray } from "../data/zarr_arrays.ts";
import type { BatchSource } from "../data/batch_source.ts";
import { encode } from "../models/autoencoder.ts";
import { decoderArrays, decoderCost, slimConfigOf } from "../models/slim_decoder.ts";
import { Rng } from "../nn/rng.ts";
import { mapBatchesAsync, psnr, trainAutoencoder } from "../train/autoencoder.ts";
import { compressDecoder } from "../train/compress.ts";
import { decodeAll, paramsFrom } from "../train/compress_pruning.ts";
import { decoderLatencies } from "../train/decoder_latency.ts";
import { stringFlag } from "./flags.ts";
import { toUnitRange } from "../stages/prepared_dataset.ts";

/** Random `crop`² windows of uint8 images [n, res, res, 3] as floats in [-1, 1]. */
function crops(
  images: Uint8Array,
  res: number,
  crop: number,
  rows: number[],
  rng: Rng,
): Float32Array {
  const out = new Float32Array(rows.length * crop * crop * 3);
  let o = 0;
  for (const r of rows) {
    const y0 = rng.int(res - crop + 1), x0 = rng.int(res - crop + 1);
    for (let y = 0; y < crop; y++) {
      const src = ((r * res + y0 + y) * res + x0) * 3;
      for (let k = 0; k < crop * 3; k++) out[o++] = images[src + k] / 127.5 - 1;
    }
  }
  return out;
}

async function caseAt(res: number, ds: string, args: string[], rec?: BenchRecorder) {
  const aeSteps = Number(stringFlag(args, "ae-steps", "600"));
  const condense = Number(stringFlag(args, "condense", "300"));
  const distill = Number(stringFlag(args, "distill", "300"));
  const probe = Number(stringFlag(args, "probe", String(distill)));
  const maxLoss = Number(stringFlag(args, "max-loss", "1"));
  const weighting = stringFlag(args, "weighting", "latency") as "flops" | "latency" | "uniform";
  const vectorWidth = simdFloats();
  const reps = Number(stringFlag(args, "reps", "41"));
  const crop = 64, factor = 8;
  const all = await readFloatArray(ds, `images/${res}`);
  const images = all.data as unknown as Uint8Array;
  const n = all.shape[0];
  const holdN = res >= 256 ? 16 : 64, calN = 128;
  const trainN = n - holdN;
  const ae = { factor, latentChannels: 4, width: 16 };
  const batch = 16;
  // Training windows (the whole image at 64²), a pure function of the step.
  const data: BatchSource = {
    sampleShape: [crop, crop, 3],
    size: trainN,
    batchSize: batch,
    batch(step) {
      const rng = new Rng(1000 + step);
      const rows = Array.from({ length: batch }, () => rng.int(trainN));
      return Promise.resolve(crops(images, res, crop, rows, rng));
    },
    close: () => Promise.resolve(),
  };
  let t0 = performance.now();
  console.log(`${res}²: training the autoencoder (${aeSteps} steps)...`);
  const trained = await trainAutoencoder({
    config: ae,
    data,
    steps: aeSteps,
    seed: 1,
    lr: 2e-3,
    advWeight: 0,
  });
  const aeSeconds = (performance.now() - t0) / 1000;
  const cfg = slimConfigOf(ae);
  const teacher = decoderArrays(trained.params.toArrays());
  const cropCode: [number, number, number] = [crop / factor, crop / factor, 4];
  const encodeAll = async (x: Float32Array, size: number) =>
    (await mapBatchesAsync(x, [size, size, 3], 16, (t) => encode(trained.params, ae, t))).data;
  const tp = paramsFrom(teacher);
  const rng = new Rng(77);
  const trainRows = Array.from({ length: 1024 }, () => rng.int(trainN - calN));
  const trainX = crops(images, res, crop, trainRows, rng);
  const calX = crops(
    images,
    res,
    crop,
    Array.from({ length: calN }, (_, i) => trainN - calN + i),
    rng,
  );
  const trainCodes = await encodeAll(trainX, crop), calCodes = await encodeAll(calX, crop);
  console.log(`${res}²: compressing...`);
  t0 = performance.now();
  const r = await compressDecoder({
    teacher,
    config: cfg,
    train: {
      codes: trainCodes,
      codeShape: cropCode,
      targets: await decodeAll(tp, cfg, trainCodes, cropCode),
      imageShape: [crop, crop, 3],
    },
    calibration: {
      codes: calCodes,
      codeShape: cropCode,
      originals: calX,
      reference: await decodeAll(tp, cfg, calCodes, cropCode),
    },
    target: { maxPsnrLossDb: maxLoss },
    minChannels: 2,
    l1Weighting: weighting,
    vectorWidth,
    condenseSteps: condense,
    distillSteps: distill,
    probeSteps: probe,
    batch,
    seed: 1,
  });
  const compressSeconds = (performance.now() - t0) / 1000;
  // Held-out full images.
  const per = res * res * 3;
  const held = toUnitRange(images.subarray(trainN * per, n * per));
  const code = [res / factor, res / factor, 4] as [number, number, number];
  const heldCodes = await encodeAll(held, res);
  const sp = paramsFrom(r.student.arrays), pp = paramsFrom(r.pruned.arrays);
  const ref = await decodeAll(tp, cfg, heldCodes, code);
  const out = await decodeAll(sp, r.student.config, heldCodes, code);
  const prunedOut = await decodeAll(pp, r.pruned.config, heldCodes, code);
  const before = decoderCost(cfg, code[0], code[1]);
  const after = decoderCost(r.student.config, code[0], code[1]);
  // Latency: teacher and student in turns, round by round (fair under changing load), both as
  // the decode stages run them (compiled conv chain) and as tfjs ops.
  const pair = [{ arrays: teacher, config: cfg }, {
    arrays: r.student.arrays,
    config: r.student.config,
  }];
  const rounds = (b: number) => (b === 1 ? reps : Math.ceil(reps / 4));
  const lat = (engine: "compiled" | "ops") =>
    Object.fromEntries(
      [1, 16].map((b) => [b, decoderLatencies(pair, code, b, rounds(b), engine)]),
    );
  const latency = { compiled: lat("compiled"), ops: lat("ops") };
  const teacherPsnr = psnr(ref, held), studentPsnr = psnr(out, held);
  console.log(
    `${res}²: codes ${code.join("x")}; autoencoder ${aeSteps} steps (${aeSeconds.toFixed(0)} s), ` +
      `compress (${weighting} weighting, ${vectorWidth}-wide vectors) ${condense} condense + ` +
      `${r.selection.distilled.length}x${probe} probe` +
      (probe < distill ? ` + ${distill} distill` : "") +
      ` steps (${compressSeconds.toFixed(0)} s)` +
      (res > crop ? `, both on ${crop}² crops` : ""),
  );
  console.log(
    `  channels [${cfg.channels}] -> [${r.student.config.channels}]; params ${before.params} -> ` +
      `${after.params} (${(before.params / after.params).toFixed(2)}x); GFLOP/image ` +
      `${(before.flops / 1e9).toFixed(3)} -> ${(after.flops / 1e9).toFixed(3)} ` +
      `(${(before.flops / after.flops).toFixed(2)}x)`,
  );
  console.log(
    `  PSNR vs originals (${holdN} held-out): teacher ${teacherPsnr.toFixed(2)} dB, compressed ` +
      `${studentPsnr.toFixed(2)} dB -> loss ${(teacherPsnr - studentPsnr).toFixed(2)} dB ` +
      `(target <= ${maxLoss}); vs teacher: compressed ${psnr(out, ref).toFixed(2)} dB, ` +
      `pruned without distillation ${psnr(prunedOut, ref).toFixed(2)} dB`,
  );
  const fmt = (xs: { pruned: number; lossDb: number }[]) =>
    xs.map((x) => `${x.pruned}:${x.lossDb.toFixed(2)}`).join(" ");
  console.log(
    `  prune-count search (channels removed: calibration dB lost), pruned only: ` +
      `${fmt(r.selection.prunedOnly)}; after ${probe}-step probes: ${fmt(r.selection.distilled)}` +
      `; chosen ${cfg.channels.reduce((a, b) => a + b) - r.keep.flat().length}, final ` +
      `${r.calibrationLossDb.toFixed(2)} dB`,
  );
  rec?.figure(
    `compress.${res}.psnr_loss_db`,
    `${res}²: PSNR lost to compression`,
    teacherPsnr - studentPsnr,
    "dB",
  );
  rec?.figure(
    `compress.${res}.flops_ratio`,
    `${res}²: teacher / student multiply-adds`,
    before.flops / after.flops,
    "x",
  );
  for (const engine of ["compiled", "ops"] as const) {
    for (const b of [1, 16]) {
      const [t, s] = latency[engine][b].map((x) => x.imagesPerSecond);
      if (engine === "compiled") {
        rec?.figure(
          `compress.${res}.b${b}.student_images_per_s`,
          `${res}², batch ${b}: student decodes`,
          s,
          "img/s",
        );
        rec?.figure(
          `compress.${res}.b${b}.speedup`,
          `${res}², batch ${b}: student / teacher speed`,
          s / t,
          "x",
        );
      }
      console.log(
        `  ${engine === "compiled" ? "compiled chain" : "tfjs ops      "} batch ${
          String(b).padStart(2)
        }: ${t.toFixed(1).padStart(7)} -> ${s.toFixed(1).padStart(7)} images/s (${
          (s / t).toFixed(2)
        }x; median of ${rounds(b)})` +
          (res === 256 && b === 1 ? (s >= 30 ? "  real-time" : "  below 30 images/s") : ""),
      );
    }
  }
  for (const x of [tp, sp, pp]) x.dispose();
  trained.params.dispose();
  tf.disposeVariables();
}

export async function benchCompress(args: string[], rec?: BenchRecorder): Promise<void> {
  const info = await initBackend("auto");
  const sizes = stringFlag(args, "res", "64,256").split(",").map(Number);
  console.log(`backend ${info.detail}`);
  const dir = await Deno.makeTempDir({ prefix: "ganflow-bench-compress-" });
  try {
    const ds = join(dir, "mnist.zarr");
    await prepareDataset({
      source: { kind: "mnist", limit: 1200 },
      resolution: Math.max(...sizes),
      upscaleSmall: true,
      out: ds,
    });
    for (const res of sizes) await caseAt(res, ds, args, rec);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
