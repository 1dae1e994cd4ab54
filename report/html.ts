/**
 * One self-contained HTML report page: images as data: URIs, inline CSS and SVG charts, so the
 * file opens anywhere (offline, as a CI artifact) without fetching anything.
 */
import { encodeBase64 } from "./base64.ts";
import { escapeXml } from "./escape.ts";
import { pngSize } from "./png_size.ts";
import { type ChartOptions, lineChart } from "./svg_chart.ts";

/** A PNG shown as a figure (sample grid, fixed-seed progress grid, ...). */
export interface ReportImage {
  title: string;
  /** Encoded PNG bytes (checked for a PNG header; width/height come from it). */
  png: Uint8Array;
  caption?: string;
  /** HTML id of the <figure>, for links and tests. */
  id?: string;
}

/** Autoencoder originals and their reconstructions, shown side by side in the same order. */
export interface ReconstructionPair {
  title: string;
  originals: Uint8Array;
  reconstructions: Uint8Array;
  caption?: string;
  id?: string;
}

/** One metrics-table row: the model's value beside the real-vs-real ("Reals2") baseline. */
export interface MetricRow {
  /** e.g. "SWD x1e3 @64", "SWD x1e3 average", "MS-SSIM", "FID", "KID x1e3". */
  name: string;
  /** null (or non-finite) renders as a dash: not computed. */
  model: number | null;
  reals2: number | null;
  note?: string;
}

/** One row of the stage table. */
export interface StageRow {
  stage: string;
  /** "cached", "computed", "computed 2026-11-24 03:10:00", ... */
  status: string;
  seconds: number;
  /** Full cache key; the table shows its first 12 characters. */
  key: string;
}

export interface ReportData {
  title: string;
  subtitle?: string;
  /** Sample grids and other single images. */
  images: ReportImage[];
  /** The same latents' samples at each snapshot during training, in step order (optional). */
  progress?: ReportImage[];
  /** Originals beside reconstructions (optional: pixel-space runs have no autoencoder). */
  reconstructions?: ReconstructionPair[];
  /** Training curves, e.g. D and G loss per step (several series per chart, optional log y). */
  charts: ChartOptions[];
  /** Metric-over-checkpoints curves, e.g. SWD average vs training step (x = step). */
  checkpointCharts?: ChartOptions[];
  metrics: MetricRow[];
  stages: StageRow[];
  /** Free-form remarks, e.g. "FID skipped: put weights at ...". */
  notes: string[];
}

const KEY_PREFIX_CHARS = 12;

/** Table number: "—" when missing, one decimal for large values, else 4 significant digits. */
export function formatMetric(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return "—";
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4);
}

/** Small grids are shown enlarged by a whole factor (crisp pixels) to about this many px wide. */
const TARGET_DISPLAY_WIDTH = 320;
const MAX_ZOOM = 4;

function img(png: Uint8Array, alt: string): string {
  const { width, height } = pngSize(png);
  const zoom = Math.max(1, Math.min(MAX_ZOOM, Math.floor(TARGET_DISPLAY_WIDTH / width)));
  return `<img alt="${escapeXml(alt)}" width="${width * zoom}" height="${
    height * zoom
  }" src="data:image/png;base64,${encodeBase64(png)}">`;
}

function idAttr(id: string | undefined): string {
  return id ? ` id="${escapeXml(id)}"` : "";
}

function caption(title: string, text: string | undefined): string {
  return `<figcaption><b>${escapeXml(title)}</b>${
    text ? ` — ${escapeXml(text)}` : ""
  }</figcaption>`;
}

function imageFigure(im: ReportImage): string {
  return `<figure${idAttr(im.id)}>${img(im.png, im.title)}${
    caption(im.title, im.caption)
  }</figure>`;
}

function reconstructionFigure(r: ReconstructionPair): string {
  return `<figure class="pair"${idAttr(r.id)}><div class="side">` +
    `<div><div class="lbl">originals</div>${img(r.originals, `${r.title}: originals`)}</div>` +
    `<div><div class="lbl">reconstructions</div>${
      img(r.reconstructions, `${r.title}: reconstructions`)
    }</div>` +
    `</div>${caption(r.title, r.caption)}</figure>`;
}

function metricsTable(rows: MetricRow[]): string {
  const body = rows.map((m) =>
    `<tr><td>${escapeXml(m.name)}</td><td class="n">${formatMetric(m.model)}</td><td class="n">${
      formatMetric(m.reals2)
    }</td><td>${escapeXml(m.note ?? "")}</td></tr>`
  ).join("\n");
  return `<table id="metrics"><thead><tr><th>metric</th><th>model</th>` +
    `<th>Reals2 (real vs real)</th><th>note</th></tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function stagesTable(rows: StageRow[]): string {
  const body = rows.map((s) =>
    `<tr><td>${escapeXml(s.stage)}</td><td>${escapeXml(s.status)}</td><td class="n">${
      s.seconds.toFixed(1)
    }</td><td><code>${escapeXml(s.key.slice(0, KEY_PREFIX_CHARS))}</code></td></tr>`
  ).join("\n");
  const total = rows.reduce((sum, s) => sum + s.seconds, 0);
  return `<table id="stages"><thead><tr><th>stage</th><th>status</th><th>seconds</th>` +
    `<th>key prefix</th></tr></thead><tbody>\n${body}\n` +
    `<tr class="total"><td>total</td><td></td><td class="n">${
      total.toFixed(1)
    }</td><td></td></tr>\n</tbody></table>`;
}

function section(title: string, id: string, body: string): string {
  return `<section id="${id}"><h2>${escapeXml(title)}</h2>\n${body}\n</section>`;
}

const STYLE = `
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}
h1{margin-bottom:0}.sub{color:#666;margin-top:4px}h2{border-bottom:1px solid #ddd;padding-bottom:4px}
.grid,.charts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
figure{margin:0;background:#fafafa;padding:8px;border:1px solid #ddd}
figure img{image-rendering:pixelated;max-width:560px;height:auto;display:block}
figcaption{font-size:13px;margin-top:6px;max-width:560px}
.side{display:flex;gap:12px}.side img{max-width:400px}.lbl{font-size:12px;color:#666}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 10px;font-size:14px}
th{background:#f0f0f0}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.total td{font-weight:bold}.notes li{color:#8a5a00}
.compare figure img{max-width:240px}.compare figcaption{max-width:240px}`;

/** A page comparing runs: their images side by side, shared charts, one table row per run. */
export interface ComparisonData {
  title: string;
  subtitle?: string;
  images: ReportImage[];
  charts: ChartOptions[];
  table: { header: string[]; rows: (string | number | null)[][] };
  notes: string[];
}

export function renderComparison(data: ComparisonData): string {
  const cell = (v: string | number | null) =>
    typeof v === "string" ? `<td>${escapeXml(v)}</td>` : `<td class="n">${formatMetric(v)}</td>`;
  const head = data.table.header.map((h) => `<th>${escapeXml(h)}</th>`).join("");
  const body = data.table.rows.map((r) => `<tr>${r.map(cell).join("")}</tr>`).join("\n");
  const sections = [
    section(
      "Comparison",
      "comparison",
      `<table id="comparison"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`,
    ),
  ];
  if (data.images.length) {
    const figures = data.images.map(imageFigure).join("\n");
    // Smaller figures, so several runs' samples sit side by side.
    sections.push(section("Samples", "images", `<div class="grid compare">${figures}</div>`));
  }
  if (data.charts.length) {
    const charts = data.charts.map(lineChart).join("\n");
    sections.push(section("Curves", "curves", `<div class="charts">${charts}</div>`));
  }
  if (data.notes.length) {
    const items = data.notes.map((n) => `<li>${escapeXml(n)}</li>`).join("");
    sections.push(section("Notes", "notes", `<ul class="notes">${items}</ul>`));
  }
  return page(data.title, data.subtitle, sections);
}

function page(title: string, subtitle: string | undefined, sections: string[]): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(title)}</title>
<style>${STYLE}
</style></head><body>
<h1>${escapeXml(title)}</h1>${subtitle ? `<p class="sub">${escapeXml(subtitle)}</p>` : ""}
${sections.join("\n")}
</body></html>
`;
}

/** The whole page as a string; throws if an image is not a PNG or a chart is malformed. */
export function renderReport(data: ReportData): string {
  const sections: string[] = [];
  const figures = [
    ...data.images.map(imageFigure),
    ...(data.reconstructions ?? []).map(reconstructionFigure),
  ];
  if (figures.length) {
    sections.push(
      section(
        "Samples and reconstructions",
        "images",
        `<div class="grid">${figures.join("\n")}</div>`,
      ),
    );
  }
  if (data.progress?.length) {
    // Smaller figures in one row, so the eye follows the same latents from step to step.
    const strip = data.progress.map(imageFigure).join("\n");
    sections.push(
      section("Samples over training", "progress", `<div class="grid compare">${strip}</div>`),
    );
  }
  if (data.notes.length) {
    const items = data.notes.map((n) => `<li>${escapeXml(n)}</li>`).join("");
    sections.push(section("Notes", "notes", `<ul class="notes">${items}</ul>`));
  }
  sections.push(section("Metrics", "metrics-section", metricsTable(data.metrics)));
  const charts = (list: ChartOptions[]) =>
    `<div class="charts">${list.map(lineChart).join("\n")}</div>`;
  if (data.checkpointCharts?.length) {
    sections.push(
      section("Metrics over training checkpoints", "checkpoints", charts(data.checkpointCharts)),
    );
  }
  if (data.charts.length) sections.push(section("Training curves", "curves", charts(data.charts)));
  sections.push(section("Stages", "stages-section", stagesTable(data.stages)));
  return page(data.title, data.subtitle, sections);
}
