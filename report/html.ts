/** One self-contained HTML report page: images as data: URIs, inline CSS and SVG charts. */
import { encodeBase64 } from "./base64.ts";
import { type ChartOptions, escapeXml, lineChart } from "./svg_chart.ts";

export interface ReportData {
  title: string;
  subtitle?: string;
  /** PNG images with captions (sample grids, reconstructions). */
  images: { title: string; png: Uint8Array; caption?: string; id?: string }[];
  charts: ChartOptions[];
  /** Metric rows: name, model value, real-vs-real baseline. */
  metrics: { name: string; model: number | null; reals2: number | null; note?: string }[];
  stages: { stage: string; status: string; seconds: number; key: string }[];
  notes: string[];
}

function num(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return "—";
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4);
}

export function renderReport(d: ReportData): string {
  const imgs = d.images.map((im) =>
    `<figure${im.id ? ` id="${escapeXml(im.id)}"` : ""}><img alt="${
      escapeXml(im.title)
    }" src="data:image/png;base64,${encodeBase64(im.png)}"><figcaption><b>${
      escapeXml(im.title)
    }</b>${im.caption ? ` — ${escapeXml(im.caption)}` : ""}</figcaption></figure>`
  ).join("\n");
  const metricRows = d.metrics.map((m) =>
    `<tr><td>${escapeXml(m.name)}</td><td class="n">${num(m.model)}</td><td class="n">${
      num(m.reals2)
    }</td><td>${escapeXml(m.note ?? "")}</td></tr>`
  ).join("\n");
  const stageRows = d.stages.map((s) =>
    `<tr><td>${escapeXml(s.stage)}</td><td>${escapeXml(s.status)}</td><td class="n">${
      s.seconds.toFixed(1)
    }</td><td><code>${escapeXml(s.key.slice(0, 12))}</code></td></tr>`
  ).join("\n");
  const total = d.stages.reduce((s, x) => s + x.seconds, 0);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(d.title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}
h1{margin-bottom:0}.sub{color:#666;margin-top:4px}
.grid{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0;background:#fafafa;padding:8px;border:1px solid #ddd}
figure img{image-rendering:pixelated;max-width:560px;display:block}figcaption{font-size:13px;margin-top:6px;max-width:560px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 10px;font-size:14px}th{background:#f0f0f0}
td.n{text-align:right;font-variant-numeric:tabular-nums}.charts{display:flex;flex-wrap:wrap;gap:12px}
.notes li{color:#8a5a00}
</style></head><body>
<h1>${escapeXml(d.title)}</h1>${d.subtitle ? `<p class="sub">${escapeXml(d.subtitle)}</p>` : ""}
<h2>Samples and reconstructions</h2><div class="grid">${imgs}</div>
<h2>Metrics</h2>
<table id="metrics"><thead><tr><th>metric</th><th>model</th><th>Reals2 (real vs real)</th><th>note</th></tr></thead><tbody>
${metricRows}
</tbody></table>
<h2>Training curves</h2><div class="charts">${d.charts.map((c) => lineChart(c)).join("\n")}</div>
<h2>Stages</h2>
<table id="stages"><thead><tr><th>stage</th><th>status</th><th>seconds</th><th>key</th></tr></thead><tbody>
${stageRows}
<tr><td><b>total</b></td><td></td><td class="n"><b>${total.toFixed(1)}</b></td><td></td></tr>
</tbody></table>
${
    d.notes.length
      ? `<h2>Notes</h2><ul class="notes">${
        d.notes.map((n) => `<li>${escapeXml(n)}</li>`).join("")
      }</ul>`
      : ""
  }
</body></html>
`;
}
