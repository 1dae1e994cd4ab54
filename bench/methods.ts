/**
 * `deno task bench methods`: the generator training methods at 64² on the default backend,
 * in latent (8x8x4 codes) and pixel (64x64x3) space, and in pixel space with Faster Projected
 * GAN's own networks (FastGAN-style G, projected D on a frozen feature network), at the stage's
 * default width and at one nearer the papers' (`--widths=128,512`), in one run:
 * - standard vs depthwise-separable G (Faster Projected GAN claims ~-20% time, ~-15% memory);
 * - two-stage vs one-stage steps (Shen et al. claim ~1.5x faster per step, against their own
 *   two-stage loop, which is timed too: see `paperTwoStageStep`);
 * - fixed vs progressive growing (ProGAN): time to reach the final resolution, and SWD of
 *   both at equal CPU time (the fixed run trains until it has used the progressive run's CPU
 *   seconds), on MNIST upscaled to 64² (pixel space).
 * Step time is the median of timed steps after warm-up: at least `--steps`, and as many as fill
 * `--min-seconds` (default 10) per setting, since steps of tens of ms wander with load. Memory: the step peak is the most
 * tensor memory held during one step above what was held before it (activations, gradients,
 * optimizer temporaries; on onednn distinct buffers, elsewhere tfjs's count); training memory
 * adds the weights, Adam moments and EMA copy held throughout.
 */
import type { BenchRecorder } from "./results.ts";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend/mod.ts";
import { median } from "../nn/stats.ts";
import { backendMemory, resetPeakMemory, tracksMemory } from "../backend/memory.ts";
import { openImageBatches } from "../data/image_batches.ts";
import { createGan, trainGan } from "../train/gan.ts";
import { type GanConfig, generate, sampleLatents } from "../models/gan.ts";
import {
  discriminatorGrads,
  ganStep,
  type Schedule,
  type StepBatch,
  type StepNets,
} from "../train/gan_step.ts";
import { GAN_LOSSES } from "../train/losses.ts";
import { Adam } from "../train/adam.ts";
import { adamFor, ganRecipe, stepNets } from "../train/recipe.ts";
import { Rng } from "../nn/rng.ts";
import { Params } from "../nn/params.ts";
import { encoderFeatures } from "../models/autoencoder.ts";
import { type FeatureNet, projectFeatures } from "../models/projected_d.ts";
import { cpuSeconds } from "./cpu_clock.ts";
import { growthPhase } from "../train/growth.ts";
import { flag, numberFlag, stringFlag } from "./flags.ts";
import { prepareMnist64, swdAgainst } from "./mnist64.ts";

const BATCH = 32;

interface StepStats {
  ms: number;
  gMs: number;
  peakMB: number;
  /**
   * What training holds at that peak: the step's peak plus G and D weights, their two Adam
   * moments and G's EMA copy (what a GPU's memory figure counts, and where a smaller G saves).
   */
  trainMB: number;
  gParams: number;
}

/**
 * The two-stage loop the one-stage paper measured its 1.5x against (OSGAN's
 * train_dcgan_asymmetric_two_stage.py): our D step, then a G step whose backward also computes
 * D's weight gradients, as PyTorch's `loss_g.backward()` does while D's parameters require
 * gradients (the next D step's `zero_grad()` throws them away). Ours (train/gan_step.ts) asks
 * for G's gradients only, so D's weight gradients are never computed in G's step.
 */
function paperTwoStageStep(nets: StepNets, b: StepBatch, optD: Adam, optG: Adam): void {
  const loss = GAN_LOSSES.logistic;
  const dStep = discriminatorGrads(nets, b, { loss });
  optD.apply(nets.d, dStep.grads);
  const gStep = tf.variableGrads(
    () => loss.g(nets.D(nets.G(b.z2))),
    [...nets.g.list(), ...nets.d.list()],
  );
  optG.apply(nets.g, gStep.grads);
  tf.dispose([
    dStep.value,
    gStep.value,
    ...Object.values(dStep.grads),
    ...Object.values(gStep.grads),
  ]);
}

/** Our schedules, or the paper's two-stage baseline loop. */
type BenchSchedule = Schedule | "paper two-stage";

interface Variant {
  step(): void;
  gPass(): void;
  gParams: number;
  dParams: number;
  dispose(): void;
}

/**
 * A GAN of `cfg` with its optimizers and a fixed real batch, ready to step; `features` is the
 * frozen feature network of a projected D.
 */
function variant(cfg: GanConfig, schedule: BenchSchedule, features?: FeatureNet): Variant {
  const m = createGan(cfg, 1, features);
  const nets = stepNets(m, cfg, { features });
  const optG = new Adam(adamFor(cfg.arch)), optD = new Adam(adamFor(cfg.arch));
  const rng = new Rng(1);
  const [h, w, c] = cfg.shape;
  const real = tf.tensor4d(rng.normalArray(BATCH * h * w * c, 0.5), [BATCH, h, w, c]);
  return {
    step() {
      const z1 = sampleLatents(rng, BATCH, cfg), z2 = sampleLatents(rng, BATCH, cfg);
      if (schedule === "paper two-stage") paperTwoStageStep(nets, { real, z1, z2 }, optD, optG);
      else ganStep(schedule, nets, { real, z1, z2 }, optD, optG, { loss: GAN_LOSSES.logistic });
      tf.dispose([z1, z2]);
    },
    gPass() {
      const z = sampleLatents(rng, BATCH, cfg);
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(nets.G(z))), m.g.list());
      tf.dispose([z, value, ...Object.values(grads)]);
    },
    gParams: m.g.count(),
    dParams: m.d.count(),
    dispose() {
      optG.dispose();
      optD.dispose();
      real.dispose();
      m.g.dispose();
      m.d.dispose();
      m.ema.dispose();
    },
  };
}

/**
 * Median ms of a full GAN step and of G's forward + backward alone, and one step's peak memory,
 * for each variant. Variants take turns step by step, so load from other processes on the
 * machine spreads evenly over them instead of biasing whichever ran during it.
 */
async function measure(
  variants: Record<string, [GanConfig, BenchSchedule]>,
  steps: number,
  minMs: number,
  features?: FeatureNet,
): Promise<Record<string, StepStats & { rounds: number }>> {
  const vs = Object.fromEntries(
    Object.entries(variants).map(([k, [c, s]]) => [k, variant(c, s, features)]),
  );
  const times: Record<string, number[]> = {}, gTimes: Record<string, number[]> = {};
  let roundMs = 0;
  for (const [k, v] of Object.entries(vs)) {
    v.step();
    const t0 = performance.now();
    v.step();
    v.gPass();
    roundMs += performance.now() - t0;
    times[k] = [];
    gTimes[k] = [];
  }
  // Short steps (tens of ms) wander with load: time at least `minMs` of rounds, at most 200.
  const rounds = Math.max(steps, Math.min(200, Math.ceil(minMs / roundMs)));
  for (let i = 0; i < rounds; i++) {
    for (const [k, v] of Object.entries(vs)) {
      let t0 = performance.now();
      v.step();
      times[k].push(performance.now() - t0);
      t0 = performance.now();
      v.gPass();
      gTimes[k].push(performance.now() - t0);
    }
  }
  const out: Record<string, StepStats & { rounds: number }> = {};
  const onednn = tracksMemory();
  for (const [k, v] of Object.entries(vs)) {
    // On onednn, distinct buffers (backendMemory); tfjs's own count adds a tensor's size again
    // for every reshape or clone sharing a buffer.
    const before = onednn ? backendMemory().live : tf.memory().numBytes;
    if (onednn) resetPeakMemory();
    const prof = await tf.profile(() => v.step());
    const peak = onednn ? backendMemory().peak : prof.peakBytes;
    const peakMB = (peak - before) / 2 ** 20;
    const stateMB = ((v.gParams + v.dParams) * 3 + v.gParams) * 4 / 2 ** 20;
    out[k] = {
      ms: median(times[k]),
      gMs: median(gTimes[k]),
      peakMB,
      trainMB: peakMB + stateMB,
      gParams: v.gParams,
      rounds,
    };
    v.dispose();
  }
  return out;
}

async function growthComparison(args: string[], rec?: BenchRecorder): Promise<void> {
  const kimg = numberFlag(args, "growth-kimg", 1);
  const dir = await Deno.makeTempDir({ prefix: "ganflow-methods-" });
  try {
    const real = await prepareMnist64(dir, 2000);
    const n = 256;
    const swdOf = swdAgainst(real.data);
    // ProGAN's width rule min(fmap_base / 2^stage, fmap_max) at 1/16 of its widths (512 up to
    // 32², 256 at 64²): 32 channels up to 32², 16 at 64². Constant widths at low resolution
    // make low-resolution images cheap, which is what growing spends its early time on.
    const cfg: GanConfig = {
      shape: [64, 64, 3],
      zDim: 64,
      baseChannels: 256,
      maxChannels: 32,
      tanh: true,
      arch: "progan",
    };
    // ProGAN's single-GPU minibatch schedule (its config.py: 128 up to 16², then 64, 32 at 64²):
    // low resolutions see more images per step, which is where growing saves time.
    const batchByResolution = { "4": 128, "8": 128, "16": 128, "32": 64, "64": BATCH };
    const growth = { start: 4, fadeKimg: kimg, stableKimg: kimg, batchByResolution };
    // Steps until fully grown (stable at 4, then fade + stable at 8, 16, 32 and fade at 64);
    // the run then trains one more stable phase at 64².
    const grownAt = (s: number) => {
      const ph = growthPhase(s, growth, 4, BATCH);
      return ph.level === 4 && ph.alpha === 1;
    };
    let growSteps = 0;
    while (!grownAt(growSteps)) growSteps++;
    let progImages = 0;
    // ProGAN's recipe: WGAN-GP, Adam (1e-3, 0, 0.99).
    const common = { seed: 3, ...ganRecipe({ arch: "progan" }).options };
    const data = (batchSize: number) =>
      openImageBatches({ store: dir, resolution: 64, batchSize, seed: 1 });
    const evalZ = sampleLatents(new Rng(9), n, cfg);
    // Budgets and times in CPU seconds (bench/cpu_clock.ts): the fixed run stops when it has used
    // as much CPU as the progressive one, whatever else the machine is doing.
    let reachedFull = 0;
    const t0 = cpuSeconds();
    const prog = await trainGan({
      ...common,
      config: cfg,
      data: await data(128),
      steps: growSteps + Math.ceil((kimg * 1000) / BATCH),
      growth,
      onProgress: (s, _t, i) => {
        progImages += growthPhase(s - 1, growth, 4, BATCH).batch;
        if (!reachedFull && i.resolution === 64 && i.alpha === 1) {
          reachedFull = cpuSeconds() - t0;
        }
        if (s % 50 === 0) {
          console.log(`  progressive step ${s}: ${i.resolution}px alpha ${i.alpha?.toFixed(2)}`);
        }
      },
    });
    const progSeconds = cpuSeconds() - t0;
    const progSwd = await swdOf(tf.tidy(() => generate(prog.ema, cfg, evalZ)));
    tf.disposeVariables();
    // The fixed run: 64² steps until it has used the same CPU time.
    const t1 = cpuSeconds();
    const fixed = await trainGan({
      ...common,
      config: cfg,
      data: await data(BATCH),
      steps: Number.MAX_SAFE_INTEGER,
      until: () => cpuSeconds() - t1 >= progSeconds,
    });
    const fixedSteps = fixed.history.step.length;
    const fixedSeconds = cpuSeconds() - t1;
    const fixedSwd = await swdOf(tf.tidy(() => generate(fixed.ema, cfg, evalZ)));
    console.log(
      `progressive (ProGAN, WGAN-GP, ${kimg} kimg per phase): full 64² reached after ${
        reachedFull.toFixed(0)
      } CPU-s; ${progSeconds.toFixed(0)} CPU-s total -> SWD ${progSwd.toFixed(1)}`,
    );
    console.log(
      `fixed 64² (same network, no growth): ${fixedSteps} steps in ${
        fixedSeconds.toFixed(0)
      } CPU-s -> SWD ${fixedSwd.toFixed(1)}`,
    );
    console.log(
      `  images seen in the same time: progressive ${(progImages / 1000).toFixed(1)} kimg, fixed ${
        (fixedSteps * BATCH / 1000).toFixed(1)
      } kimg; SWD ratio fixed/progressive ${
        (fixedSwd / progSwd).toFixed(2)
      } (> 1: growing is ahead)`,
    );
    rec?.figure(
      "methods.growth.progressive_swd",
      "progressive growing: SWD at equal CPU time",
      progSwd,
      "",
    );
    rec?.figure("methods.growth.fixed_swd", "fixed 64²: SWD at equal CPU time", fixedSwd, "");
    rec?.figure(
      "methods.growth.fixed_over_progressive_swd",
      "SWD fixed / progressive",
      fixedSwd / progSwd,
      "x",
    );
    evalZ.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

export async function benchMethods(args: string[], rec?: BenchRecorder): Promise<void> {
  const info = await initBackend("auto");
  const steps = numberFlag(args, "steps", 5);
  const minMs = numberFlag(args, "min-seconds", 10) * 1000;
  console.log(
    `backend ${info.detail}; batch ${BATCH}; medians of at least ${steps} steps, and of ` +
      `${minMs / 1000} s of steps per setting, after 2 warm-up`,
  );
  // Widths: the stage's default (128 channels at 4x4, 16 at 64²), and one nearer the papers'
  // generators (FastGAN at ngf 64 has 1024 at 4x4 and 128 at 64²; 512 keeps the run short).
  const widths = stringFlag(args, "widths", "128,512")
    .split(",").map(Number);
  // Faster Projected GAN's own setting: a FastGAN-style G and a projected D on a frozen
  // feature network (here the pipeline's autoencoder encoder, factor 8, width 16; its weights do
  // not change the timing), where D is light and G's share of the step is large.
  const encoder = new Params(new Rng(4), false);
  const encoderCfg = { factor: 8, latentChannels: 4, width: 16 };
  const features = projectFeatures((x) => encoderFeatures(encoder, encoderCfg, x), 5);
  const spaces = (base: number): [string, GanConfig, FeatureNet?][] => {
    const pixel: GanConfig = { shape: [64, 64, 3], zDim: 64, baseChannels: base, tanh: true };
    return [
      ["latent 8x8x4", { shape: [8, 8, 4], zDim: 64, baseChannels: base, tanh: false }],
      ["pixel 64x64x3", pixel],
      [
        "pixel 64x64x3, FastGAN G + projected D (Faster Projected GAN's setting)",
        { ...pixel, arch: "fastgan", discriminator: "projected" },
        features,
      ],
    ];
  };
  // --only=pixel (a substring of the space's name) times one space.
  const only = flag(args, "only");
  for (const base of widths) {
    for (const [name, cfg, feats] of spaces(base)) {
      if (only && !name.includes(only)) continue;
      await methodsAt(name, base, cfg, steps, minMs, feats, rec);
    }
  }
  if (!args.includes("--skip-growth")) {
    console.log("\nfixed vs progressive (pixel 64², MNIST):");
    await growthComparison(args, rec);
  }
}

/** Times the four variants of one space and width and prints their ratios. */
async function methodsAt(
  name: string,
  base: number,
  cfg: GanConfig,
  steps: number,
  minMs: number,
  feats?: FeatureNet,
  rec?: BenchRecorder,
): Promise<void> {
  const { std, sep, one, paper } = await measure(
    {
      std: [cfg, "two-stage"],
      sep: [{ ...cfg, conv: "separable" }, "two-stage"],
      one: [cfg, "one-stage"],
      paper: [cfg, "paper two-stage"],
    },
    steps,
    minMs,
    feats,
  );
  const pct = (a: number, b: number) => `${((a / b - 1) * 100).toFixed(0)}%`;
  console.log(`\n${name}, ${base} channels at 4x4 (medians of ${std.rounds} steps):`);
  console.log(
    `  standard G: step ${std.ms.toFixed(0)} ms, G fwd+bwd ${std.gMs.toFixed(0)} ms, ` +
      `step peak ${std.peakMB.toFixed(1)} MB, training ${std.trainMB.toFixed(1)} MB, ` +
      `G params ${std.gParams}`,
  );
  console.log(
    `  separable G: step ${sep.ms.toFixed(0)} ms (${pct(sep.ms, std.ms)}; paper -20%), G fwd+bwd ${
      sep.gMs.toFixed(0)
    } ms (${pct(sep.gMs, std.gMs)}), step peak ${sep.peakMB.toFixed(1)} MB (${
      pct(sep.peakMB, std.peakMB)
    }), training ${sep.trainMB.toFixed(1)} MB (${
      pct(sep.trainMB, std.trainMB)
    }; paper -15%), G params ${sep.gParams}`,
  );
  console.log(
    `  one-stage: step ${one.ms.toFixed(0)} ms (peak ${one.peakMB.toFixed(1)} MB) -> ${
      (paper.ms / one.ms).toFixed(2)
    }x faster than the paper's two-stage loop (${paper.ms.toFixed(0)} ms; paper 1.5x), ${
      (std.ms / one.ms).toFixed(2)
    }x faster than ours (${std.ms.toFixed(0)} ms; pass count bounds this near 1.33x)`,
  );
  const id = `methods.${
    name.split(" ")[0] === "latent" ? "latent" : feats ? "fastgan" : "pixel"
  }.${base}`;
  const change = (a: number, b: number) => (a / b - 1) * 100;
  rec?.figure(`${id}.standard.step_ms`, `${name}, width ${base}: standard G step`, std.ms, "ms");
  rec?.figure(
    `${id}.separable.step_change_pct`,
    `${name}, width ${base}: separable G step time`,
    change(sep.ms, std.ms),
    "%",
  );
  rec?.figure(
    `${id}.separable.train_mb_change_pct`,
    `${name}, width ${base}: separable G training memory`,
    change(sep.trainMB, std.trainMB),
    "%",
  );
  rec?.figure(
    `${id}.one_stage.speedup_vs_paper_loop`,
    `${name}, width ${base}: one-stage vs the paper's two-stage loop`,
    paper.ms / one.ms,
    "x",
  );
  rec?.figure(
    `${id}.one_stage.speedup_vs_ours`,
    `${name}, width ${base}: one-stage vs our two-stage step`,
    std.ms / one.ms,
    "x",
  );
}
