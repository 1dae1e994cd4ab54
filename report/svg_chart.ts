/** Hand-made SVG line charts (no DOM, no browser): nice ticks, labelled axes, legend. */

export interface Series {
  name: string;
  points: [number, number][];
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  logY?: boolean;
  width?: number;
  height?: number;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

/** Ticks at 1, 2 or 5 x 10^k covering [lo, hi], about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    out.push(Number(t.toPrecision(12)));
  }
  return out;
}

function fmt(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

/** Smooths long noisy curves (moving average) so a trend is readable; keeps short ones as is. */
export function smooth(points: [number, number][], maxPoints = 400): [number, number][] {
  if (points.length <= maxPoints) return points;
  const win = Math.ceil(points.length / maxPoints);
  const out: [number, number][] = [];
  for (let i = 0; i < points.length; i += win) {
    const chunk = points.slice(i, i + win);
    out.push([chunk[chunk.length - 1][0], chunk.reduce((s, p) => s + p[1], 0) / chunk.length]);
  }
  return out;
}

export function lineChart(o: ChartOptions): string {
  const W = o.width ?? 560, H = o.height ?? 300;
  const m = { l: 60, r: 16, t: 30, b: 44 };
  const tr = (y: number) => (o.logY ? Math.log10(Math.max(y, 1e-12)) : y);
  const all = o.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p[1]));
  const xs = all.map((p) => p[0]), ys = all.map((p) => tr(p[1]));
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (!all.length) [x0, x1, y0, y1] = [0, 1, 0, 1];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 1, y1 + 1];
  const px = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((tr(y) - y0) / (y1 - y0)) * (H - m.t - m.b);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${
      escapeXml(o.title)
    }">`,
  );
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${
      escapeXml(o.title)
    }</text>`,
  );
  for (const t of niceTicks(x0, x1)) {
    const x = px(t).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${m.t}" y2="${H - m.b}" stroke="#eee"/>`);
    parts.push(
      `<text x="${x}" y="${H - m.b + 16}" text-anchor="middle" font-size="11">${fmt(t)}</text>`,
    );
  }
  for (const t of niceTicks(y0, y1)) {
    const v = o.logY ? 10 ** t : t;
    const y = (H - m.b - ((t - y0) / (y1 - y0)) * (H - m.t - m.b)).toFixed(1);
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    parts.push(
      `<text x="${m.l - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11">${
        fmt(v)
      }</text>`,
    );
  }
  parts.push(
    `<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${
      H - m.t - m.b
    }" fill="none" stroke="#888"/>`,
  );
  parts.push(
    `<text x="${(m.l + W - m.r) / 2}" y="${H - 8}" text-anchor="middle" font-size="12">${
      escapeXml(o.xLabel)
    }</text>`,
  );
  parts.push(
    `<text transform="translate(14 ${
      (m.t + H - m.b) / 2
    }) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(o.yLabel)}${
      o.logY ? " (log)" : ""
    }</text>`,
  );
  o.series.forEach((s, i) => {
    const pts = smooth(s.points.filter((p) => Number.isFinite(p[1])));
    const color = COLORS[i % COLORS.length];
    if (pts.length) {
      const d = pts.map((p, k) => `${k ? "L" : "M"}${px(p[0]).toFixed(1)} ${py(p[1]).toFixed(1)}`)
        .join(" ");
      parts.push(
        `<path d="${d}" fill="none" stroke="${color}" stroke-width="1.6"><title>${
          escapeXml(s.name)
        }</title></path>`,
      );
    }
    const lx = m.l + 10 + i * 130;
    parts.push(
      `<line x1="${lx}" x2="${lx + 18}" y1="${m.t + 12}" y2="${
        m.t + 12
      }" stroke="${color}" stroke-width="3"/>`,
    );
    parts.push(
      `<text x="${lx + 22}" y="${m.t + 12}" dominant-baseline="middle" font-size="11">${
        escapeXml(s.name)
      }</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n");
}
