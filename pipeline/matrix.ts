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

/** One named set of overrides from a `--combos` file (an ablation's row, say). */
export interface NamedCombo {
  label: string;
  set: Record<string, unknown>;
}

/**
 * A `--combos` file: a JSON list of `{ "label": "...", "set": { "stage.param": value } }`, each
 * one combination (no product), so an ablation lists its rows, the baseline as `"set": {}`.
 */
export function parseCombos(text: string, where: string): NamedCombo[] {
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch (e) {
    throw new PipelineError(`${where}: not JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(list) || list.length === 0) {
    throw new PipelineError(`${where}: expected a non-empty JSON list of {label, set}`);
  }
  const labels = new Set<string>();
  return list.map((item, i) => {
    const { label, set, ...rest } = (item ?? {}) as Record<string, unknown>;
    const at = `${where}: entry ${i + 1}`;
    if (typeof label !== "string" || !label) throw new PipelineError(`${at}: "label" is missing`);
    if (labels.has(label)) throw new PipelineError(`${at}: label "${label}" given twice`);
    labels.add(label);
    if (!set || typeof set !== "object" || Array.isArray(set)) {
      throw new PipelineError(`${at} ("${label}"): "set" must be an object of stage.param values`);
    }
    const bad = Object.keys(set).find((k) => !/^[^.]+\..+/.test(k));
    if (bad) throw new PipelineError(`${at} ("${label}"): "${bad}" is not stage.param`);
    const extra = Object.keys(rest);
    if (extra.length) throw new PipelineError(`${at} ("${label}"): unknown field "${extra[0]}"`);
    return { label, set: set as Record<string, unknown> };
  });
}

/**
 * Every combination of the variations, as override maps (first variation varies slowest); with
 * named combos, each of them times every combination of the variations.
 */
export function combinations(
  variations: Variation[],
  named: NamedCombo[] = [],
): Record<string, unknown>[] {
  const params = variations.map((v) => v.param);
  const twice = params.find((p, i) => params.indexOf(p) !== i);
  if (twice) throw new PipelineError(`--vary ${twice} given twice`);
  const clash = named.flatMap((c) => Object.keys(c.set)).find((k) => params.includes(k));
  if (clash) throw new PipelineError(`${clash} is both in --combos and --vary`);
  let out: Record<string, unknown>[] = named.length ? named.map((c) => ({ ...c.set })) : [{}];
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
