/**
 * `deno task bench ablation [--combos=FILE] [--store=DIR] [--html=FILE]`: the sample-quality
 * ablation. Runs `matrix --combos` (default bench/ablation_combos.json, whose first entry is the
 * baseline) on one store through the CLI, as a user would, writes its comparison page (default
 * docs/ablation.html), and records per combination:
 * - SWD x1e3 of its samples at its own length (1000 images vs real set A) and the autoencoder's
 *   floor;
 * - the training time (autoencoder + generator, from the run records: they may have run under
 *   different machine load);
 * - the generator's step cost, measured here back to back for every combination in this process
 *   (the same weights' shapes, recipe and batch on the stored codes), the least of
 *   `--cost-rounds` (3) rounds through all combinations, so load hits all alike;
 * - SWD at the baseline's time: the evaluate curve (256 images per point, EMA snapshots every
 *   250 steps) at the last snapshot the combination reaches within the baseline's steps times
 *   the baseline's step cost, so a slower step pays for itself.
 * A reused `--store` only computes what changed.
 */
import { join } from "node:path";
import { FsStore } from "../pipeline/store.ts";
import type { MatrixRow } from "../pipeline/matrix_run.ts";
import { parseCombos } from "../pipeline/matrix.ts";
import type { BenchRecorder } from "./results.ts";
import { flag, numberFlag } from "./flags.ts";
import { initBackend } from "../backend/mod.ts";
import { openArrayBatches } from "../data/zarr_arrays.ts";
import { trainGan } from "../train/gan.ts";
import { ganRecipe } from "../train/recipe.ts";
import type { Augmentation } from "../train/diff_augment.ts";
import type { GanConfig } from "../models/gan.ts";
import { median } from "../nn/stats.ts";
import { digitReader } from "./legibility.ts";
import * as tf from "@tensorflow/tfjs";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;

/** A figure-id-safe name for a combination's label. */
export function slug(label: string): string {
  return label.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
}

interface CurvePoint {
  step: number;
  swd: number;
}

/**
 * The curve's SWD at the last point reached within `budget` seconds, for a run whose fixed
 * part (the autoencoder) took `fixed` seconds and whose steps took `perStep` seconds each; null
 * when not even the first point is reached.
 */
export function swdWithin(
  points: CurvePoint[],
  fixed: number,
  perStep: number,
  budget: number,
): CurvePoint | null {
  let best: CurvePoint | null = null;
  for (const p of points) if (fixed + p.step * perStep <= budget * (1 + 1e-9)) best = p;
  return best;
}

/** Median ms of a training step of `p` (train-generator's params) on `codes`, after warm-up. */
async function stepCost(p: Record<string, unknown>, codes: string, steps: number): Promise<number> {
  const data = await openArrayBatches({
    store: codes,
    array: "codes",
    batchSize: p.batch as number,
    seed: 1,
  });
  const config: GanConfig = {
    shape: [...data.sampleShape] as [number, number, number],
    zDim: p.zDim as number,
    baseChannels: p.baseChannels as number,
    tanh: false,
    arch: "dcgan",
    ...(p.mbstd ? { mbstd: true } : {}),
    ...((p.zModes as number) > 0 ? { zModes: p.zModes as number } : {}),
    ...(p.selfCondition ? { conditionD: true } : {}),
  };
  const modes = config.zModes ?? 1;
  const recipe = ganRecipe({
    lr: p.lr as number | undefined,
    beta1: p.beta1 as number | undefined,
    r1Gamma: p.r1Gamma as number | undefined,
    r1Every: p.r1Every as number | undefined,
  });
  const result = await trainGan({
    config,
    data,
    steps,
    seed: 1,
    ...recipe.options,
    dLr: p.dLr as number | undefined,
    gTopK: p.gTopK as number | undefined,
    augment: p.augment as Augmentation[] | undefined,
    // The real samples' clusters: their cost, not their values, matters here.
    ...(config.conditionD
      ? { realModes: (step: number) => Int32Array.from(data.indices!(step), (i) => i % modes) }
      : {}),
  });
  await data.close();
  tf.disposeVariables();
  // Whole R1 periods after the first few steps, so the penalty's steps count in their share.
  const every = (p.r1Every as number) ?? 4;
  const skip = 2 * every;
  return median(
    result.stepTimes.slice(skip).map((t) => t.ms).reduce<number[]>((acc, ms, i) => {
      const k = Math.floor(i / every);
      acc[k] = (acc[k] ?? 0) + ms / every;
      return acc;
    }, []),
  );
}

export async function benchAblation(args: string[], rec?: BenchRecorder): Promise<void> {
  const combosFile = flag(args, "combos") ?? join(ROOT, "bench", "ablation_combos.json");
  const html = flag(args, "html") ?? join(ROOT, "docs", "ablation.html");
  parseCombos(await Deno.readTextFile(combosFile), combosFile); // its errors, before any work
  const store = flag(args, "store") ??
    await Deno.makeTempDir({ prefix: "ganflow-bench-ablation-" });
  const json = join(store, "ablation.json");
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      ...["run", "-A", MAIN, "matrix", "--store", store, "--combos", combosFile],
      ...["--json", json, "--html", html],
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error("the ablation matrix failed (its output is above)");
  const rows = JSON.parse(await Deno.readTextFile(json)) as MatrixRow[];
  const s = await FsStore.open(store);
  const metricsOf = async (row: MatrixRow) => {
    const r = await s.getRecord(row.keys.evaluate);
    const file = r && s.objectFile(r, "metrics");
    if (!file) throw new Error(`${row.label}: evaluate's metrics are not in ${store}`);
    return JSON.parse(await Deno.readTextFile(file));
  };
  const stepsOf = async (row: MatrixRow) => {
    const r = await s.getRecord(row.keys["train-generator"]);
    return (r?.params as { steps: number }).steps;
  };
  const timeOf = (row: MatrixRow) => ({
    fixed: row.seconds["train-autoencoder"] ?? 0,
    gen: row.seconds["train-generator"],
  });
  // Step costs, back to back in this process (the records' times saw different loads), in
  // rounds through all rows, each row's least kept: this VM's speed drifts by up to ~20% from
  // minute to minute, and interference only ever adds time.
  await initBackend("onednn");
  const costSteps = numberFlag(args, "cost-steps", 40);
  const rounds = numberFlag(args, "cost-rounds", 3);
  const inputs = [];
  for (const row of rows) {
    const r = await s.getRecord(row.keys["train-generator"]);
    const enc = await s.getRecord(row.keys.encode);
    if (!r || !enc) throw new Error(`${row.label}: its generator or codes are not in ${store}`);
    const codes = join(await s.view(enc, { codes: "codes.zarr" }), "codes.zarr");
    inputs.push({ params: r.params as Record<string, unknown>, codes });
  }
  // The first measurement would pay the process's warm-up (JIT, primitives, buffers): one run of
  // the baseline first, discarded.
  await stepCost(inputs[0].params, inputs[0].codes, costSteps);
  const costs = rows.map(() => Infinity);
  for (let round = 0; round < rounds; round++) {
    for (const [i, x] of inputs.entries()) {
      costs[i] = Math.min(costs[i], await stepCost(x.params, x.codes, costSteps));
    }
  }
  for (const [i, row] of rows.entries()) {
    console.log(`${row.label}: ${costs[i].toFixed(0)} ms per step (least of ${rounds} rounds)`);
  }
  const base = rows[0];
  const budget = (await stepsOf(base)) * costs[0];
  const baseMetrics = await metricsOf(base);
  rec?.figure(
    "ablation.reals2",
    "SWD x1e3, real set B vs A (1000 images)",
    baseMetrics.reals2.swdAverage,
    "",
  );
  rec?.figure(
    "ablation.curve_reals2",
    "SWD x1e3, real set B vs A at the curve's 256 images",
    baseMetrics.curve.reals2,
    "",
  );
  console.log(`\nbaseline "${base.label}": ${(budget / 1000).toFixed(0)} s of generator steps`);
  for (const [i, row] of rows.entries()) {
    const m = await metricsOf(row);
    const t = timeOf(row);
    const steps = await stepsOf(row);
    const id = `ablation.${slug(row.label!)}`;
    const at = swdWithin(m.curve.points, 0, costs[i], budget);
    rec?.figure(`${id}.step_ms`, `${row.label}: generator step (same process)`, costs[i], "ms");
    rec?.figure(`${id}.swd`, `${row.label}: SWD x1e3 at ${steps} steps`, m.swdAverage, "");
    if (m.aeFloorSwd !== undefined) {
      rec?.figure(`${id}.floor`, `${row.label}: autoencoder floor, SWD x1e3`, m.aeFloorSwd, "");
    }
    rec?.figure(`${id}.train_s`, `${row.label}: training time`, t.fixed + t.gen, "s");
    if (at) {
      rec?.figure(
        `${id}.swd_at_base_time`,
        `${row.label}: SWD x1e3 (256 images) at the baseline's time, step ${at.step}`,
        at.swd,
        "",
      );
    }
    console.log(
      `${row.label!.padEnd(28)} SWD ${m.swdAverage.toFixed(2)} at ${steps} steps; ` +
        `${(t.fixed + t.gen).toFixed(0)} s; at the baseline's time: ` +
        (at ? `${at.swd.toFixed(1)} (step ${at.step}, 256 images)` : "no snapshot yet"),
    );
  }
  await recordLegibility(rows, s, rec);
  rec?.note(`comparison page: ${html.startsWith(ROOT) ? html.slice(ROOT.length) : html}`);
}

/**
 * Each row's share of samples a digit classifier reads confidently (bench/legibility.ts), when
 * the store's dataset has digit labels; a note otherwise.
 */
async function recordLegibility(rows: MatrixRow[], s: FsStore, rec?: BenchRecorder) {
  const prepared = await s.getRecord(rows[0].keys.prepare);
  if (!prepared) throw new Error("the prepared dataset is not in the store");
  const dataset = join(await s.view(prepared, { dataset: "dataset.zarr" }), "dataset.zarr");
  let reader;
  try {
    reader = await digitReader(dataset, { log: () => {} });
  } catch (e) {
    const why = `no legibility column: ${(e as Error).message}`;
    console.log(why);
    rec?.note(why);
    return;
  }
  console.log(`\nlegible (real digits: ${(100 * reader.real).toFixed(1)}%)`);
  rec?.figure(
    "ablation.real_legible",
    "held-out real digits read confidently",
    100 * reader.real,
    "%",
  );
  for (const row of rows) {
    const r = await s.getRecord(row.keys.sample);
    if (!r) throw new Error(`${row.label}: its samples are not in the store`);
    const l = await reader.read(join(await s.view(r, { samples: "samples.zarr" }), "samples.zarr"));
    console.log(`${row.label!.padEnd(28)} ${(100 * l.share).toFixed(1)}%`);
    rec?.figure(
      `ablation.${slug(row.label!)}.legible`,
      `${row.label}: samples read confidently`,
      100 * l.share,
      "%",
    );
  }
}
