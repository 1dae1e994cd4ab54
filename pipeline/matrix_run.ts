/**
 * The `matrix` driver: runs every combination of the variations as an ordinary pipeline run on
 * one store (stages shared between combinations are computed once), then tabulates their
 * numeric metrics and, if asked, writes them as JSON and the pipeline's comparison page. With
 * `-j` above 1 the combinations run concurrently, sharing the job slots.
 */
import { PipelineError } from "./graph.ts";
import { JobSlots } from "./job_slots.ts";
import { combinations, type NamedCombo, numericMetrics, table, type Variation } from "./matrix.ts";
import type { Engine } from "./runner.ts";
import { consoleReporter, type Reporter } from "./reporter.ts";
import type { CacheStore } from "./store.ts";
import type { MatrixCell, PipelineModule, RunRecord } from "./stage.ts";
import { anyFailed, summaryTable } from "./summary.ts";

export interface MatrixOptions {
  mod: PipelineModule;
  variations: Variation[];
  /** Combinations listed by name (`--combos`), each times every combination of `variations`. */
  named?: NamedCombo[];
  targets?: string[];
  /** Stages whose numeric metrics to tabulate (default: the targets, else every stage). */
  metricStages?: string[];
  json?: string;
  html?: string;
  jobs: number;
  /** An engine for one combination's overrides, sharing `slots` and `reporter`. */
  engineFor(
    combo: Record<string, unknown>,
    slots: JobSlots,
    reporter: Reporter,
  ): Promise<{ engine: Engine; store: CacheStore }>;
}

export interface MatrixRow {
  /** The named combination's label (`--combos`). */
  label?: string;
  combo: Record<string, unknown>;
  outcomes: Record<string, string>;
  metrics: Record<string, number>;
  /** Each stage's compute time when its result was made (cached ones: by the run that made it). */
  seconds: Record<string, number>;
  /** Each stage's key: its record and outputs in the store. */
  keys: Record<string, string>;
}

/** Runs the matrix; returns the process exit code (1 when any stage failed). */
export async function runMatrix(o: MatrixOptions): Promise<number> {
  if (o.html && !o.mod.matrixReport) {
    throw new PipelineError("--html: this pipeline module exports no matrixReport");
  }
  const combos = combinations(o.variations, o.named);
  const perNamed = combos.length / Math.max(1, o.named?.length ?? 0);
  const nameOf = (i: number) =>
    o.named?.length ? o.named[Math.floor(i / perNamed)].label : undefined;
  const slots = new JobSlots(o.jobs);
  const rows: MatrixRow[] = new Array(combos.length);
  const cells: MatrixCell[] = new Array(combos.length);
  let failed = false;

  const runCombo = async (i: number) => {
    const combo = combos[i];
    const name = nameOf(i);
    const settings = Object.entries(combo).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ");
    const label = name ? `${name}${settings ? `: ${settings}` : ""}` : settings;
    const concurrent = o.jobs > 1 && combos.length > 1;
    const tag = `[${i + 1}/${combos.length}] `;
    const reporter: Reporter = concurrent
      ? {
        line: (t) => consoleReporter.line(tag + t),
        transient: (t) => consoleReporter.transient(tag + t),
      }
      : consoleReporter;
    console.log(`\n== combination ${i + 1}/${combos.length}: ${label}`);
    const { engine, store } = await o.engineFor(combo, slots, reporter);
    const t0 = performance.now();
    const results = await engine.run({ targets: o.targets, jobs: o.jobs });
    console.log(
      (concurrent ? `\n== combination ${i + 1}/${combos.length} done: ${label}` : "") +
        summaryTable(results, (performance.now() - t0) / 1000),
    );
    if (anyFailed(results)) failed = true;
    const records: Record<string, RunRecord> = {};
    for (const r of results) {
      const rec = r.key ? await store.getRecord(r.key) : null;
      if (rec) records[r.stage] = rec;
    }
    const metrics: Record<string, number> = {};
    const wanted = new Set(o.metricStages ?? o.targets ?? results.map((r) => r.stage));
    for (const [stage, rec] of Object.entries(records)) {
      if (!wanted.has(stage)) continue;
      for (const [k, v] of Object.entries(numericMetrics(rec.metrics))) {
        metrics[`${stage}.${k}`] = v;
      }
    }
    rows[i] = {
      ...(name !== undefined ? { label: name } : {}),
      combo,
      outcomes: Object.fromEntries(results.map((r) => [r.stage, r.outcome])),
      metrics,
      seconds: Object.fromEntries(Object.entries(records).map(([s, rec]) => [s, rec.seconds])),
      keys: Object.fromEntries(Object.entries(records).map(([s, rec]) => [s, rec.key])),
    };
    cells[i] = {
      label,
      combo,
      records,
      file: (stage, output, path) =>
        records[stage] ? store.objectFile(records[stage], output, path) : null,
    };
  };

  if (o.jobs > 1) await Promise.all(combos.map((_, i) => runCombo(i)));
  else for (let i = 0; i < combos.length; i++) await runCombo(i);

  const params = o.variations.map((v) => v.param);
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))];
  const nameCol = o.named?.length ? ["combination"] : [];
  const fmt = (v: number | undefined) =>
    v === undefined ? "-" : Number.isInteger(v) ? String(v) : v.toPrecision(4);
  console.log(`\n${combos.length} combinations:`);
  console.log(table(
    [...nameCol, ...params, ...cols],
    rows.map((r) => [
      ...(nameCol.length ? [r.label!] : []),
      ...params.map((p) => JSON.stringify(r.combo[p])),
      ...cols.map((c) => fmt(r.metrics[c])),
    ]),
  ));
  if (o.json) await Deno.writeTextFile(o.json, JSON.stringify(rows, null, 2));
  if (o.html) {
    await Deno.writeTextFile(o.html, await o.mod.matrixReport!(cells));
    console.log(`comparison page: ${o.html}`);
  }
  return failed ? 1 : 0;
}
