/**
 * `deno task pipeline <command>`: run, status, dag, explain, gc, verify. Built on commander
 * (cliffy is not installable here). Globals declared by the pipeline module become flags.
 */
import { Command, Option } from "commander";
import { dirname, resolve } from "node:path";
import { fromFileUrl, toFileUrl } from "./url.ts";
import { buildGraph, type Graph, PipelineError } from "./graph.ts";
import { FsStore } from "./store.ts";
import { acquireStoreLock } from "./lock.ts";
import { consoleReporter, Engine, type StageResult } from "./runner.ts";
import { verifyStages } from "./verify.ts";
import { keyOf } from "./key.ts";
import type { MatrixCell, PipelineModule, RunRecord } from "./stage.ts";
import { mermaid, textTree } from "./dag_view.ts";
import { formatSeconds } from "./progress.ts";
import { combinations, numericMetrics, parseVariation, table } from "./matrix.ts";

interface CommonOptions {
  pipeline?: string;
  store?: string;
  set?: string[];
  wait: boolean;
  [global: string]: unknown;
}

export async function runCli(
  args: string[],
  opts: { defaultPipeline: string | URL },
): Promise<number> {
  const pipelineArg = findFlag(args, "--pipeline");
  const moduleUrl = pipelineArg ? toFileUrl(resolve(pipelineArg)) : String(opts.defaultPipeline);
  const mod = (await import(moduleUrl)) as PipelineModule;
  if (!Array.isArray(mod.stages)) {
    console.error(`error: ${moduleUrl} does not export "stages"`);
    return 2;
  }
  const globals = mod.globals ?? [];
  let exitCode = 0;

  const common = (cmd: Command) => {
    cmd
      .option("--pipeline <module>", "pipeline module exporting `stages`")
      .option("--store <dir>", "cache store directory (default: .ganflow beside the pipeline)")
      .option("--set <stage.param=value...>", "override a parameter (JSON values allowed)")
      .option("--no-wait", "fail instead of waiting when another run holds the store");
    for (const g of globals) {
      const o = new Option(`--${g.name} <value>`, g.description).default(g.default);
      if (g.choices) o.choices(g.choices);
      cmd.addOption(o);
    }
    return cmd;
  };

  const setup = async (o: CommonOptions, extra: Record<string, unknown> = {}) => {
    const baseDir = dirname(fromFileUrl(moduleUrl));
    const overrides = { ...parseSets(o.set ?? []), ...extra };
    const graph = buildGraph(mod.stages, { overrides, baseDir });
    const storeRoot = resolve(o.store ?? resolve(baseDir, ".ganflow"));
    const store = await FsStore.open(storeRoot);
    const globalValues = Object.fromEntries(globals.map((g) => [g.name, String(o[camel(g.name)])]));
    const engine = new Engine(graph, store, {
      projectRoot: projectRootOf(baseDir),
      globals: globalValues,
    });
    return { graph, store, engine, storeRoot };
  };

  const withLock = async <T>(o: CommonOptions, storeRoot: string, fn: () => Promise<T>) => {
    const lock = await acquireStoreLock(storeRoot, {
      wait: o.wait,
      onWait: (holder) => consoleReporter.line(`waiting for the store lock (held by ${holder})...`),
    });
    try {
      return await fn();
    } finally {
      lock.release();
    }
  };

  const program = new Command("ganflow")
    .description("content-hash cached pipeline runner")
    .exitOverride()
    .showHelpAfterError();

  common(
    program.command("run [stages...]", { isDefault: true }).description(
      "run stages (default: all) and their upstream",
    ),
  )
    .option("--force <stage...>", "re-run these stages even when cached")
    .option("--dry-run", "print what would run and why, run nothing")
    .option("-j, --jobs <n>", "stages to run at once", (v) => parseInt(v, 10), 1)
    .action(
      async (
        stages: string[],
        o: CommonOptions & { force?: string[]; dryRun?: boolean; jobs: number },
      ) => {
        const { engine, store, storeRoot } = await setup(o);
        await withLock(o, storeRoot, async () => {
          await store.cleanTmp();
          const t0 = performance.now();
          const results = await engine.run({
            targets: stages.length ? stages : mod.defaultTargets,
            force: o.force,
            jobs: o.jobs,
            dryRun: o.dryRun,
          });
          printSummary(results, (performance.now() - t0) / 1000);
          if (results.some((r) => r.outcome === "failed" || r.outcome === "skipped")) exitCode = 1;
        });
      },
    );

  common(
    program.command("matrix [stages...]").description(
      "run every combination of --vary values (one store: shared stages run once); tabulate metrics",
    ),
  )
    .requiredOption("--vary <stage.param=v1,v2...>", "values to try (repeat for a product)")
    .option("--metrics <stage...>", "stages whose numeric metrics to tabulate (default: targets)")
    .option("--json <file>", "also write every combination's outcomes and metrics as JSON")
    .option("--html <file>", "also write the pipeline's comparison page (samples, curves, metrics)")
    .action(
      async (
        stages: string[],
        o: CommonOptions & { vary: string[]; metrics?: string[]; json?: string; html?: string },
      ) => {
        if (o.html && !mod.matrixReport) {
          throw new PipelineError("--html: this pipeline module exports no matrixReport");
        }
        const variations = o.vary.map(parseVariation);
        const combos = combinations(variations);
        const targets = stages.length ? stages : mod.defaultTargets;
        const rows: {
          combo: Record<string, unknown>;
          outcomes: Record<string, string>;
          metrics: Record<string, number>;
        }[] = [];
        const cells: MatrixCell[] = [];
        for (const [i, combo] of combos.entries()) {
          const label = Object.entries(combo).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(
            " ",
          );
          console.log(`\n== combination ${i + 1}/${combos.length}: ${label}`);
          const { engine, store, storeRoot } = await setup(o, combo);
          await withLock(o, storeRoot, async () => {
            await store.cleanTmp();
            const t0 = performance.now();
            const results = await engine.run({ targets });
            printSummary(results, (performance.now() - t0) / 1000);
            if (results.some((r) => r.outcome === "failed" || r.outcome === "skipped")) {
              exitCode = 1;
            }
            const records: Record<string, RunRecord> = {};
            for (const r of results) {
              const rec = r.key ? await store.getRecord(r.key) : null;
              if (rec) records[r.stage] = rec;
            }
            const metrics: Record<string, number> = {};
            const wanted = new Set(o.metrics ?? targets ?? results.map((r) => r.stage));
            for (const [stage, rec] of Object.entries(records)) {
              if (!wanted.has(stage)) continue;
              for (const [k, v] of Object.entries(numericMetrics(rec.metrics))) {
                metrics[`${stage}.${k}`] = v;
              }
            }
            rows.push({
              combo,
              outcomes: Object.fromEntries(results.map((r) => [r.stage, r.outcome])),
              metrics,
            });
            if (o.html) {
              cells.push({
                label,
                combo,
                records,
                file: (stage, output, path) =>
                  records[stage] ? store.objectFile(records[stage], output, path) : null,
              });
            }
          });
        }
        const params = variations.map((v) => v.param);
        const cols = [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))];
        const fmt = (v: number | undefined) =>
          v === undefined ? "-" : Number.isInteger(v) ? String(v) : v.toPrecision(4);
        console.log(`\n${combos.length} combinations:`);
        console.log(table(
          [...params, ...cols],
          rows.map((
            r,
          ) => [
            ...params.map((p) => JSON.stringify(r.combo[p])),
            ...cols.map((c) => fmt(r.metrics[c])),
          ]),
        ));
        if (o.json) await Deno.writeTextFile(o.json, JSON.stringify(rows, null, 2));
        if (o.html) {
          await Deno.writeTextFile(o.html, await mod.matrixReport!(cells));
          console.log(`comparison page: ${o.html}`);
        }
      },
    );

  common(program.command("status").description("cached / stale / missing per stage, and why"))
    .action(async (o: CommonOptions) => {
      const { engine } = await setup(o);
      for (const s of await engine.status()) {
        console.log(
          `${s.state.padEnd(8)} ${s.stage}${s.why.length ? `  (${s.why.join("; ")})` : ""}`,
        );
      }
    });

  common(program.command("dag").description("print the DAG as a text tree and as Mermaid"))
    .option("--mermaid", "print only the Mermaid flowchart")
    .action(async (o: CommonOptions & { mermaid?: boolean }) => {
      const { graph } = await setup(o);
      if (!o.mermaid) console.log(textTree(graph) + "\n");
      console.log(mermaid(graph));
    });

  common(program.command("explain <stage>").description("the ingredients of a stage's cache key"))
    .action(async (stage: string, o: CommonOptions) => {
      const { engine, graph } = await setup(o);
      await explain(engine, graph, stage);
    });

  common(program.command("gc").description("delete objects no run record references"))
    .option("--only-current", "also forget earlier results (keep only each stage's latest)")
    .action(async (o: CommonOptions & { onlyCurrent?: boolean }) => {
      const { store, storeRoot, graph } = await setup(o);
      await withLock(o, storeRoot, async () => {
        await store.cleanTmp();
        let keep: Set<string> | undefined;
        if (o.onlyCurrent) {
          keep = new Set();
          for (const n of graph.order) {
            const k = await store.head(n);
            if (k) keep.add(k);
          }
        }
        const r = await store.gc(keep);
        await store.flush();
        console.log(
          `gc: freed ${formatBytes(r.bytes)} (${r.objects} objects, ${r.records} run records)`,
        );
      });
    });

  common(
    program.command("verify [stages...]").description(
      "re-run ignoring the cache and compare outputs",
    ),
  )
    .action(async (stages: string[], o: CommonOptions) => {
      const { engine, store, storeRoot } = await setup(o);
      await withLock(o, storeRoot, async () => {
        await store.cleanTmp();
        const results = await verifyStages(engine, stages);
        await store.flush();
        const bad = results.filter((r) => !r.identical);
        console.log(bad.length ? `verify: ${bad.length} stage(s) differ` : "verify: all identical");
        if (bad.length) exitCode = 1;
      });
    });

  try {
    await program.parseAsync(args, { from: "user" });
  } catch (e) {
    if (e && typeof e === "object" && "exitCode" in e && "code" in e) {
      const code = (e as { code: string; exitCode: number }).code;
      return code === "commander.helpDisplayed" || code === "commander.version" ? 0 : 2;
    }
    if (e instanceof PipelineError) {
      console.error(`error: ${e.message}`);
      return 2;
    }
    console.error(`error: ${e instanceof Error ? e.message : e}`);
    return 1;
  }
  return exitCode;
}

async function explain(engine: Engine, graph: Graph, stage: string): Promise<void> {
  const records = new Map<string, RunRecord>();
  for (const name of graph.order) {
    const ing = await engine.ingredients(name, records);
    if (!ing) {
      if (name === stage) {
        console.log(
          `${stage}: key not known yet (an upstream stage has not run for its current inputs)`,
        );
        return;
      }
      continue;
    }
    const key = await keyOf(ing);
    if (name === stage) {
      console.log(`stage   ${stage}\nkey     ${key}`);
      console.log(`params  ${JSON.stringify(ing.params)}`);
      for (const [k, v] of Object.entries(ing.inputs)) console.log(`input   ${k} ${v}`);
      for (const [k, v] of Object.entries(ing.globals)) console.log(`global  --${k} ${v}`);
      for (const [k, v] of Object.entries(ing.code)) console.log(`code    ${k} ${v}`);
      for (const [k, v] of Object.entries(ing.deps)) console.log(`dep     ${k} -> ${v}`);
      const rec = await engine.store.getRecord(key);
      console.log(
        rec
          ? `result  cached (ran ${rec.finishedAt}, ${rec.seconds.toFixed(1)}s)`
          : "result  not cached",
      );
      return;
    }
    const rec = await engine.usableRecord(key);
    if (rec) records.set(name, rec);
  }
}

function printSummary(results: StageResult[], total: number): void {
  const w = Math.max(5, ...results.map((r) => r.stage.length));
  console.log(`\n${"stage".padEnd(w)}  ${"result".padEnd(9)}  seconds`);
  for (const r of results) {
    console.log(
      `${r.stage.padEnd(w)}  ${r.outcome.padEnd(9)}  ${r.seconds.toFixed(2).padStart(7)}${
        r.error ? `  ${r.error.split("\n")[0]}` : ""
      }`,
    );
  }
  console.log(`total ${formatSeconds(total)}`);
}

function parseSets(sets: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of sets) {
    const eq = s.indexOf("=");
    if (eq <= 0 || !s.slice(0, eq).includes(".")) {
      throw new PipelineError(`--set ${s}: expected stage.param=value`);
    }
    const raw = s.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch { /* a plain string */ }
    out[s.slice(0, eq)] = value;
  }
  return out;
}

function findFlag(args: string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) return args[i + 1];
    if (args[i].startsWith(flag + "=")) return args[i].slice(flag.length + 1);
  }
  return undefined;
}

/** Nearest folder at or above `dir` holding deno.json: where code paths are made relative. */
function projectRootOf(dir: string): string {
  let cur = dir;
  while (true) {
    try {
      Deno.statSync(resolve(cur, "deno.json"));
      return cur;
    } catch { /* keep looking */ }
    const up = dirname(cur);
    if (up === cur) return dir;
    cur = up;
  }
}

function camel(s: string): string {
  return s.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
}

function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}
