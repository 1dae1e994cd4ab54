/** Stage `report`: one self-contained HTML page with samples, curves, metrics and stage times. */
import { z } from "zod";
import { join } from "node:path";
import { defineStage, type InputRef } from "../pipeline/stage.ts";
import { renderReport } from "../report/html.ts";
import type { ChartOptions } from "../report/svg_chart.ts";

export const reportStage = defineStage({
  name: "report",
  module: import.meta.url,
  params: z.object({ title: z.string().default("ganflow report") }),
  inputs: (_p, paramsOf): Record<string, InputRef> => {
    const latent = (paramsOf("train-generator") as { space: string }).space === "latent";
    return {
      metrics: "evaluate.metrics",
      grid: "sample.grid",
      genHistory: "train-generator.history",
      progress: "train-generator.progress",
      ...(latent
        ? {
          reconstructions: "train-autoencoder.reconstructions",
          aeHistory: "train-autoencoder.history",
        }
        : {}),
    };
  },
  outputs: { report: "report.html" },
  async run(ctx) {
    const m = JSON.parse(await Deno.readTextFile(ctx.inputs.metrics));
    const gen = JSON.parse(await Deno.readTextFile(ctx.inputs.genHistory));
    const space = (ctx.records["train-generator"]?.metrics.space as string) ?? "?";
    const images = [{
      title: "Samples (EMA generator)",
      png: await Deno.readFile(ctx.inputs.grid),
      id: "samples",
    }];
    if (ctx.inputs.reconstructions) {
      images.push(
        {
          title: "Autoencoder reconstructions",
          png: await Deno.readFile(ctx.inputs.reconstructions),
          id: "reconstructions",
          caption: "top: held-out originals; bottom: their reconstructions",
        } as typeof images[0],
      );
    }
    const progress = [];
    // step-0000250.png ...: zero-padded, so names sort in step order.
    const names = [...Deno.readDirSync(ctx.inputs.progress)].map((e) => e.name)
      .filter((n) => /^step-\d+\.png$/.test(n)).sort();
    for (const name of evenlySpaced(names, MAX_PROGRESS_GRIDS)) {
      progress.push({
        title: `step ${Number(name.replace(/\D/g, ""))}`,
        png: await Deno.readFile(join(ctx.inputs.progress, name)),
      });
    }
    const charts: ChartOptions[] = [{
      title: `GAN losses (${space} space)`,
      xLabel: "step",
      yLabel: "loss",
      series: [
        { name: "D", points: gen.step.map((s: number, i: number) => [s, gen.d[i]]) },
        { name: "G", points: gen.step.map((s: number, i: number) => [s, gen.g[i]]) },
      ],
    }];
    if (ctx.inputs.aeHistory) {
      const ae = JSON.parse(await Deno.readTextFile(ctx.inputs.aeHistory));
      charts.push({
        title: "Autoencoder reconstruction L1",
        xLabel: "step",
        yLabel: "L1",
        logY: true,
        series: [{ name: "L1", points: ae.step.map((s: number, i: number) => [s, ae.l1[i]]) }],
      });
    }
    const metrics = [
      ...Object.keys(m.swd).map((r) => ({
        name: `SWD x1e3 @${r}`,
        model: m.swd[r],
        reals2: m.reals2.swd[r],
      })),
      { name: "SWD x1e3 average", model: m.swdAverage, reals2: m.reals2.swdAverage },
      // Latent mode: real set B through the autoencoder, the best exact codes could score.
      ...(m.aeFloorSwd !== undefined
        ? [{
          name: "SWD x1e3, autoencoder floor",
          model: m.aeFloorSwd as number,
          reals2: m.reals2.swdAverage,
          note: "real set B encoded and decoded",
        }]
        : []),
      {
        name: "MS-SSIM, consecutive pairs (lower = more diverse)",
        model: m.msSsim ?? null,
        reals2: m.reals2.msSsim ?? null,
      },
      // FID/KID rows only where evaluate had the Inception weights (else a note says why).
      ...(m.fid !== undefined
        ? [
          {
            name: "FID (pytorch-fid Inception)",
            model: m.fid as number,
            reals2: m.reals2.fid as number,
            note: m.inception?.published === false ? "non-published weights" : undefined,
          },
          {
            name: "KID x1e3",
            model: m.kid.mean * 1e3,
            reals2: m.reals2.kid.mean * 1e3,
            note: `± ${(m.kid.std * 1e3).toPrecision(2)} (std over subsets)`,
          },
        ]
        : []),
    ];
    // SWD over training checkpoints (evaluate's curve), with the real-vs-real level for scale.
    const checkpointCharts: ChartOptions[] = [];
    const curve = m.curve as
      | { count: number; points: { step: number; swd: number }[]; reals2: number }
      | undefined;
    if (curve && curve.points.length) {
      const steps = curve.points.map((q) => q.step);
      const [first, last] = [Math.min(...steps), Math.max(...steps)];
      checkpointCharts.push({
        title: `SWD x1e3 over training (${curve.count} images per point)`,
        xLabel: "step",
        yLabel: "SWD x1e3 (average)",
        series: [
          { name: "model (EMA)", points: curve.points.map((q) => [q.step, q.swd]) },
          { name: "Reals2", points: [[first, curve.reals2], [last, curve.reals2]] },
        ],
      });
    }
    const ae = ctx.records["train-autoencoder"];
    if (ae && ctx.inputs.reconstructions) {
      metrics.push({
        name: "autoencoder held-out PSNR (dB)",
        model: ae.metrics.psnr as number,
        reals2: null,
      });
    }
    // In the order they were computed (upstream first).
    const stages = Object.values(ctx.records).sort((p, q) =>
      p.finishedAt.localeCompare(q.finishedAt)
    ).map((r) => ({
      stage: r.stage,
      status: `computed ${r.finishedAt.slice(0, 19).replace("T", " ")}`,
      seconds: r.seconds,
      key: r.key,
    }));
    const html = renderReport({
      title: ctx.params.title,
      subtitle:
        `${space}-space GAN at ${m.resolution}x${m.resolution}; metrics on ${m.images} images`,
      images,
      progress,
      charts,
      checkpointCharts,
      metrics,
      stages,
      notes: m.notes ?? [],
    });
    await Deno.writeTextFile(ctx.outputs.report, html);
  },
  // The page shows stage timings, which differ between otherwise identical runs.
  nondeterministic: ["report"],
});

/** Snapshot grids the report shows at most (a run sampled every few steps would make it huge). */
export const MAX_PROGRESS_GRIDS = 12;

/** At most `max` of `items`, evenly spaced, the first and the last always among them. */
export function evenlySpaced<T>(items: T[], max: number): T[] {
  if (items.length <= max) return items;
  if (max <= 1) return items.slice(-1);
  return Array.from(
    { length: max },
    (_, i) => items[Math.round((i * (items.length - 1)) / (max - 1))],
  );
}
