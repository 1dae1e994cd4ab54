/**
 * The GAN pipeline's `matrix --html FILE` page: every combination's sample grid side by side,
 * their SWD-over-training curves on one chart (with the real-vs-real level), and a table of
 * the final metrics, generator size, the precision training ran in, step time, peak tensor memory
 * and training time, one row per combination (cached stages show the time they took when they
 * ran).
 */
import type { MatrixCell } from "../pipeline/stage.ts";
import { readJson } from "../pipeline/fs_util.ts";
import { renderComparison } from "../report/html.ts";
import type { ChartOptions, Series } from "../report/svg_chart.ts";

interface Metrics {
  images: number;
  swdAverage: number;
  msSsim: number;
  fid?: number;
  kid?: { mean: number };
  reals2: { swdAverage: number };
  curve?: { count: number; points: { step: number; swd: number }[]; reals2: number };
}

/** Drops the columns no row has a value in (FID and KID without Inception weights). */
function withoutEmptyColumns(header: string[], rows: (string | number | null)[][]) {
  const keep = header.map((_, i) => rows.some((r) => r[i] !== null && r[i] !== "—"));
  return {
    header: header.filter((_, i) => keep[i]),
    rows: rows.map((r) => r.filter((_, i) => keep[i])),
  };
}

/** "schedule=one-stage conv=separable": parameter names without their stage where unambiguous. */
function shortLabel(cell: MatrixCell): string {
  const keys = Object.keys(cell.combo);
  const short = keys.map((k) => k.slice(k.indexOf(".") + 1));
  const unique = new Set(short).size === short.length;
  return keys.map((k, i) => {
    const v = cell.combo[k];
    return `${unique ? short[i] : k}=${typeof v === "string" ? v : JSON.stringify(v)}`;
  }).join(" ") || cell.label;
}

export async function matrixReport(cells: MatrixCell[]): Promise<string> {
  const notes: string[] = [];
  const images = [];
  const rows: (string | number | null)[][] = [];
  const curves: Series[] = [];
  const steps: number[] = [];
  let reals2: { count: number; level: number } | null = null;
  for (const cell of cells) {
    const label = shortLabel(cell);
    const grid = cell.file("sample", "grid");
    if (grid) images.push({ title: label, png: await Deno.readFile(grid) });
    const metricsFile = cell.file("evaluate", "metrics");
    const m = metricsFile ? await readJson<Metrics>(metricsFile) : null;
    if (!m) notes.push(`${label}: no evaluate metrics (evaluate was not a target)`);
    const gen = cell.records["train-generator"];
    rows.push([
      label,
      m?.swdAverage ?? null,
      m?.msSsim ?? null,
      m?.fid ?? null,
      m?.kid ? m.kid.mean * 1e3 : null,
      gen?.metrics.gParams !== undefined ? String(gen.metrics.gParams) : "—",
      // What ran (a bf16 request runs fp32 where the CPU lacks bf16); runs before it: none.
      (gen?.metrics.precision as string | undefined) ?? null,
      (gen?.metrics.msPerStep as number | undefined) ?? null,
      (gen?.metrics.peakMB as number | undefined) ?? null,
      gen?.seconds ?? null,
    ]);
    if (m?.curve?.points.length) {
      curves.push({ name: label, points: m.curve.points.map((q) => [q.step, q.swd]) });
      steps.push(...m.curve.points.map((q) => q.step));
      // Every combination on one dataset shares real-stats, so one real-vs-real level.
      reals2 ??= { count: m.curve.count, level: m.curve.reals2 };
    }
  }
  const charts: ChartOptions[] = [];
  if (reals2) {
    const level = reals2.level, lo = Math.min(...steps), hi = Math.max(...steps);
    charts.push({
      title: `SWD x1e3 over training (${reals2.count} images per point)`,
      xLabel: "step",
      yLabel: "SWD x1e3 (average)",
      series: [...curves, { name: "Reals2", points: [[lo, level], [hi, level]] }],
    });
  }
  const firstEval = cells.map((c) => c.records["evaluate"]).find((r) => r);
  const reals2Swd = firstEval?.metrics.reals2Swd as number | undefined;
  return renderComparison({
    title: `ganflow matrix: ${cells.length} combinations`,
    subtitle: reals2Swd !== undefined
      ? `real-vs-real (Reals2) SWD x1e3 ${reals2Swd.toFixed(2)}; lower SWD, FID and KID are better`
      : undefined,
    images,
    charts,
    table: withoutEmptyColumns(
      [
        "combination",
        "SWD x1e3",
        "MS-SSIM",
        "FID",
        "KID x1e3",
        "G params",
        "precision",
        "ms per step",
        "peak tensor MB",
        "train-generator s",
      ],
      rows,
    ),
    notes,
  });
}
