/**
 * Experiment matrices, parsing and tabulating (the driver that runs them is matrix_run.ts): the
 * cartesian product of parameter variations (`--vary stage.param=a,b`), each combination run as
 * an ordinary pipeline run on one store, so every stage a combination shares with another (same
 * code, params and inputs) is computed once.
 */
import { PipelineError } from "./graph.ts";

export interface Variation {
  /** `stage.param` */
  param: string;
  values: unknown[];
}

/** `stage.param=v1,v2` (each value JSON if it parses) or `stage.param=[JSON array]`. */
export function parseVariation(spec: string): Variation {
  const eq = spec.indexOf("=");
  if (eq <= 0 || !spec.slice(0, eq).includes(".")) {
    throw new PipelineError(`--vary ${spec}: expected stage.param=value1,value2,...`);
  }
  const raw = spec.slice(eq + 1);
  let values: unknown[];
  try {
    const parsed = JSON.parse(raw);
    values = Array.isArray(parsed) ? parsed : [parsed];
  } catch {
    values = raw.split(",").map((v) => {
      try {
        return JSON.parse(v);
      } catch {
        return v;
      }
    });
  }
  if (values.length === 0) throw new PipelineError(`--vary ${spec}: no values`);
  return { param: spec.slice(0, eq), values };
}

/** Every combination of the variations, as override maps (first variation varies slowest). */
export function combinations(variations: Variation[]): Record<string, unknown>[] {
  const params = variations.map((v) => v.param);
  const twice = params.find((p, i) => params.indexOf(p) !== i);
  if (twice) throw new PipelineError(`--vary ${twice} given twice`);
  let out: Record<string, unknown>[] = [{}];
  for (const v of variations) {
    out = out.flatMap((combo) => v.values.map((value) => ({ ...combo, [v.param]: value })));
  }
  return out;
}

/** Numeric metrics of a run record, flattened one level: `{ swd: 3, reals2: {swd: 2} }`. */
export function numericMetrics(metrics: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(metrics)) {
    if (typeof v === "number") out[k] = v;
    else if (v && typeof v === "object" && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v)) if (typeof v2 === "number") out[`${k}.${k2}`] = v2;
    }
  }
  return out;
}

/** A plain-text table, columns padded to their widest cell. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}
