/** Hand-made SVG line charts (no DOM, no browser): nice ticks, labelled axes, legend. */
import { escapeXml } from "./escape.ts";

export { escapeXml };

/** One named curve; points are [x, y]. Non-finite y (and y <= 0 on a log axis) leave a gap. */
export interface Series {
  name: string;
  points: [number, number][];
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Logarithmic y axis (ticks at 1-2-5 x 10^k or whole decades). */
  logY?: boolean;
  /** Pixel size of the SVG; defaults 560 x 300. */
  width?: number;
  height?: number;
}

/** Margins around the plot box, in pixels (left holds tick labels and the rotated y label). */
export const CHART_MARGIN = { left: 64, right: 16, top: 30, bottom: 44 } as const;

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"];
/** Series with at most this many points also get a dot per point (e.g. per-checkpoint metrics). */
const MARKER_MAX_POINTS = 40;

/** Tick step 1, 2 or 5 x 10^k giving about `count` intervals over [lo, hi]. */
export function niceStep(lo: number, hi: number, count = 5): number {
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw * (1 - 1e-9))!;
}

/** Ticks at multiples of a 1-2-5 step inside [lo, hi], about `count` intervals. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const step = niceStep(lo, hi, count);
  const out: number[] = [];
  // Integer multiples avoid accumulating float error (0.1 + 0.2 ...).
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) {
    out.push(Number((k * step).toPrecision(12)));
  }
  return out;
}

/**
 * Ticks for a log axis over the values [lo, hi] (both > 0): whole decades when the range spans
 * several, 1-2-5 within decades for narrower ranges, plain nice ticks inside one decade.
 */
export function logTicks(lo: number, hi: number): number[] {
  if (!(lo > 0) || !(hi > lo)) return [lo];
  const d0 = Math.floor(Math.log10(lo) + 1e-9), d1 = Math.ceil(Math.log10(hi) - 1e-9);
  const inRange = (v: number) => v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9);
  const decades: number[] = [];
  for (let d = d0; d <= d1; d++) decades.push(Number((10 ** d).toPrecision(12)));
  const whole = decades.filter(inRange);
  if (whole.length > 8) {
    const every = Math.ceil(whole.length / 6);
    return whole.filter((v) => Math.round(Math.log10(v)) % every === 0);
  }
  if (whole.length >= 3) return whole;
  const fine = decades.flatMap((p) => [p, 2 * p, 5 * p].map((v) => Number(v.toPrecision(12))))
    .filter(inRange);
  return fine.length >= 3 ? fine : niceTicks(lo, hi, 4);
}

/** Short tick label: 4 significant digits, exponent form for very large or small values. */
export function formatTick(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0).replace("e+", "e");
  return String(Number(v.toPrecision(4)));
}

/** Smooths long noisy curves (window mean) so a trend is readable; keeps short ones as is. */
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

/** Splits a series at unusable points so a NaN (e.g. a diverged step) shows as a gap. */
function segments(points: [number, number][], logY: boolean): [number, number][][] {
  const out: [number, number][][] = [[]];
  for (const p of points) {
    const ok = Number.isFinite(p[0]) && Number.isFinite(p[1]) && (!logY || p[1] > 0);
    if (ok) out[out.length - 1].push(p);
    else if (out[out.length - 1].length) out.push([]);
  }
  return out.filter((s) => s.length);
}

function validate(o: ChartOptions, W: number, H: number): void {
  const minW = CHART_MARGIN.left + CHART_MARGIN.right + 40;
  const minH = CHART_MARGIN.top + CHART_MARGIN.bottom + 40;
  if (!(W >= minW) || !(H >= minH)) {
    throw new Error(
      `lineChart "${o.title}": size ${W}x${H} too small, need at least ${minW}x${minH}`,
    );
  }
  for (const s of o.series) {
    if (!Array.isArray(s.points)) {
      throw new Error(`lineChart "${o.title}": series "${s.name}" has no points array`);
    }
    const bad = s.points.findIndex((p) => !Array.isArray(p) || p.length !== 2);
    if (bad >= 0) {
      throw new Error(
        `lineChart "${o.title}": series "${s.name}" point ${bad} is not an [x, y] pair`,
      );
    }
  }
}

/** An SVG line chart as a string, ready to inline in HTML. */
export function lineChart(o: ChartOptions): string {
  const W = o.width ?? 560, H = o.height ?? 300;
  validate(o, W, H);
  const logY = o.logY ?? false;
  const m = CHART_MARGIN;
  const segs = o.series.map((s) => segments(s.points, logY).map((seg) => smooth(seg)));
  const all = segs.flat(2);
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  let x0 = all.length ? Math.min(...xs) : 0, x1 = all.length ? Math.max(...xs) : 1;
  let y0 = all.length ? Math.min(...ys) : logY ? 1 : 0;
  let y1 = all.length ? Math.max(...ys) : logY ? 10 : 1;
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  if (y1 === y0) [y0, y1] = logY ? [y0 / 2, y1 * 2] : [y0 - 1, y1 + 1];
  if (!logY) {
    // Extend the y range to whole tick steps so the plot box starts and ends on a tick.
    const step = niceStep(y0, y1);
    y0 = Number((Math.floor(y0 / step + 1e-9) * step).toPrecision(12));
    y1 = Number((Math.ceil(y1 / step - 1e-9) * step).toPrecision(12));
  }
  const ty = (y: number) => (logY ? Math.log10(y) : y);
  const plotW = W - m.left - m.right, plotH = H - m.top - m.bottom;
  const px = (x: number) => m.left + ((x - x0) / (x1 - x0)) * plotW;
  const py = (y: number) => m.top + plotH - ((ty(y) - ty(y0)) / (ty(y1) - ty(y0))) * plotH;
  const f = (v: number) => v.toFixed(1);

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${
      escapeXml(o.title)
    }" font-family="system-ui,sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${
      escapeXml(o.title)
    }</text>`,
  ];
  for (const t of niceTicks(x0, x1)) {
    const x = f(px(t));
    parts.push(
      `<line x1="${x}" x2="${x}" y1="${m.top}" y2="${H - m.bottom}" stroke="#eee"/>`,
      `<text class="xtick" x="${x}" y="${H - m.bottom + 16}" text-anchor="middle" font-size="11">${
        formatTick(t)
      }</text>`,
    );
  }
  for (const t of logY ? logTicks(y0, y1) : niceTicks(y0, y1)) {
    const y = f(py(t));
    parts.push(
      `<line x1="${m.left}" x2="${W - m.right}" y1="${y}" y2="${y}" stroke="#eee"/>`,
      `<text class="ytick" x="${
        m.left - 6
      }" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11">${
        formatTick(t)
      }</text>`,
    );
  }
  parts.push(
    `<rect x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`,
    `<text x="${m.left + plotW / 2}" y="${H - 8}" text-anchor="middle" font-size="12">${
      escapeXml(o.xLabel)
    }</text>`,
    `<text transform="translate(14 ${
      m.top + plotH / 2
    }) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(o.yLabel)}${
      logY ? " (log scale)" : ""
    }</text>`,
  );
  o.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    for (const seg of segs[i]) {
      const d = seg.map((p, k) => `${k ? "L" : "M"}${f(px(p[0]))} ${f(py(p[1]))}`).join(" ");
      parts.push(
        `<path d="${d}" fill="none" stroke="${color}" stroke-width="1.6"><title>${
          escapeXml(s.name)
        }</title></path>`,
      );
      if (s.points.length <= MARKER_MAX_POINTS) {
        for (const p of seg) {
          parts.push(`<circle cx="${f(px(p[0]))}" cy="${f(py(p[1]))}" r="2.5" fill="${color}"/>`);
        }
      }
    }
  });
  // Legend: stacked entries in the top-right corner of the plot box, on a translucent card.
  if (o.series.length) {
    const rowH = 15;
    const textW = Math.max(...o.series.map((s) => s.name.length)) * 6.5;
    const boxW = Math.min(plotW - 8, 30 + textW), boxH = 6 + rowH * o.series.length;
    const bx = W - m.right - boxW - 4, by = m.top + 4;
    parts.push(
      `<rect x="${f(bx)}" y="${by}" width="${
        f(boxW)
      }" height="${boxH}" fill="white" fill-opacity="0.85" stroke="#ccc"/>`,
    );
    o.series.forEach((s, i) => {
      const y = by + 3 + rowH * i + rowH / 2;
      parts.push(
        `<line x1="${f(bx + 6)}" x2="${f(bx + 24)}" y1="${y}" y2="${y}" stroke="${
          COLORS[i % COLORS.length]
        }" stroke-width="3"/>`,
        `<text class="legend" x="${
          f(bx + 28)
        }" y="${y}" dominant-baseline="middle" font-size="11">${escapeXml(s.name)}</text>`,
      );
    });
  }
  parts.push("</svg>");
  return parts.join("\n");
}
