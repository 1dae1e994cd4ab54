/**
 * `deno task pipeline <command>`: run, matrix, status, dag, explain, gc, verify, and run-key
 * (one stage by key: what a cluster job runs). Built on commander (cliffy is not installable
 * here). Globals declared by the pipeline module become flags.
 */
import { Command, Option } from "commander";
import { dirname, resolve } from "node:path";
import { fromFileUrl, toFileUrl } from "./url.ts";
import { buildGraph, type Graph, PipelineError } from "./graph.ts";
import { FsStore } from "./store.ts";
import { Engine, GC_CLAIM } from "./runner.ts";
import { consoleReporter, type Reporter } from "./reporter.ts";
import { verifyStages } from "./verify.ts";
import { keyOf } from "./key.ts";
import type { PipelineModule, RunRecord } from "./stage.ts";
import { mermaid, textTree } from "./dag_view.ts";
import { parseCombos, parseVariation } from "./matrix.ts";
import { loadPreset } from "./preset.ts";
import { runMatrix } from "./matrix_run.ts";
import { anyFailed, summaryTable } from "./summary.ts";
import type { Executor } from "./executor.ts";
import { SlurmExecutor } from "./slurm.ts";
import { runKeyJob } from "./slurm_job.ts";
import type { JobSlots } from "./job_slots.ts";
import {
  CONFIG_FILE,
  loadProjectConfig,
  parseResourceFlags,
  resolveResources,
  type Resources,
  unknownStages,
} from "./resources.ts";

interface CommonOptions {
  pipeline?: string;
  store?: string;
  set?: string[];
  preset?: string;
  wait: boolean;
  [global: string]: unknown;
}

interface ExecOptions extends CommonOptions {
  executor: "local" | "slurm";
  resources?: string[];
  config?: string;
  jobs: number;
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
      .option("--preset <name>", "start from presets/<name>.json's overrides (--set wins)")
      .option("--no-wait", "fail instead of waiting for a key another run is computing");
    for (const g of globals) {
      const o = new Option(`--${g.name} <value>`, g.description).default(g.default);
      if (g.choices) o.choices(g.choices);
      cmd.addOption(o);
    }
    return cmd;
  };

  const baseDir = dirname(fromFileUrl(moduleUrl));

  const setup = async (
    o: CommonOptions,
    extra: Record<string, unknown> = {},
    exec: {
      executor?: Executor;
      slots?: JobSlots;
      reporter?: Reporter;
      resources?: (graph: Graph) => (stage: string) => Resources;
    } = {},
  ) => {
    const preset = o.preset ? await loadPreset(o.preset, baseDir) : null;
    if (preset) console.error(`preset ${preset.name}: ${preset.description}`);
    const overrides = { ...preset?.set, ...parseSets(o.set ?? []), ...extra };
    const graph = buildGraph(mod.stages, { overrides, baseDir });
    const storeRoot = resolve(o.store ?? resolve(baseDir, ".ganflow"));
    const store = await FsStore.open(storeRoot);
    const globalValues = Object.fromEntries(globals.map((g) => [g.name, String(o[camel(g.name)])]));
    // What a job needs to rebuild exactly this graph: module, store, every override, globals.
    const jobArgs = [
      ...["--pipeline", fromFileUrl(moduleUrl), "--store", storeRoot],
      ...Object.entries(overrides).flatMap(([k, v]) => ["--set", `${k}=${JSON.stringify(v)}`]),
      ...Object.entries(globalValues).flatMap(([k, v]) => [`--${k}`, v]),
    ];
    const engine = new Engine(graph, store, {
      projectRoot: projectRootOf(baseDir),
      globals: globalValues,
      executor: exec.executor,
      slots: exec.slots,
      reporter: exec.reporter,
      resources: exec.resources?.(graph),
      wait: o.wait,
      jobArgs,
    });
    return { graph, store, engine, storeRoot };
  };

  /** Resources (declarations < config file < --resources) and the executor for run/matrix. */
  const execution = async (o: ExecOptions) => {
    const configPath = o.config ? resolve(o.config) : await firstExisting([
      resolve(baseDir, CONFIG_FILE),
      resolve(projectRootOf(baseDir), CONFIG_FILE),
    ]);
    if (o.config && !(await exists(configPath!))) {
      throw new PipelineError(`--config ${o.config}: no such file`);
    }
    const config = await loadProjectConfig(configPath ?? resolve(baseDir, CONFIG_FILE));
    const cli = parseResourceFlags(o.resources ?? []);
    const typos = unknownStages(mod.stages.map((s) => s.name), {
      [configPath ?? CONFIG_FILE]: config.resources,
      "--resources": cli,
    });
    if (typos.length) throw new PipelineError(typos.join("\n"));
    const resources = (graph: Graph) => (stage: string) =>
      resolveResources(stage, graph.nodes.get(stage)?.def.resources, config.resources, cli);
    if (!Number.isInteger(o.jobs) || o.jobs < 1) {
      throw new PipelineError(`-j ${o.jobs}: expected a whole number of jobs, at least 1`);
    }
    let executor: Executor | undefined;
    if (o.executor === "slurm") {
      const slurm = new SlurmExecutor(
        await FsStore.open(resolve(o.store ?? resolve(baseDir, ".ganflow"))),
        {
          prefix: [Deno.execPath(), "run", "-A", "--no-lock", fromFileUrl(Deno.mainModule)],
          cwd: Deno.cwd(),
        },
        config.slurm,
      );
      executor = slurm;
      // Ctrl-C cancels the jobs this driver submitted, as it would stop local stages.
      Deno.addSignalListener("SIGINT", () => {
        consoleReporter.line("interrupted: cancelling submitted jobs");
        slurm.close().finally(() => Deno.exit(130));
      });
    }
    return { executor, resources };
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
    .option("--dry-run", "print what would run and why, run nothing");
  execOptions(program.commands.at(-1)!)
    .action(
      async (stages: string[], o: ExecOptions & { force?: string[]; dryRun?: boolean }) => {
        const exec = await execution(o);
        const { engine, store } = await setup(o, {}, exec);
        await store.cleanTmp();
        const t0 = performance.now();
        try {
          const results = await engine.run({
            targets: stages.length ? stages : mod.defaultTargets,
            force: o.force,
            jobs: o.jobs,
            dryRun: o.dryRun,
          });
          console.log(summaryTable(results, (performance.now() - t0) / 1000));
          if (anyFailed(results)) exitCode = 1;
        } finally {
          await exec.executor?.close();
        }
      },
    );

  execOptions(common(
    program.command("matrix [stages...]").description(
      "run every combination of --vary values (one store: shared stages run once); tabulate metrics",
    ),
  ))
    .option("--vary <stage.param=v1,v2...>", "values to try (repeat for a product)")
    .option(
      "--combos <file>",
      'JSON list of named combinations, [{"label": "...", "set": {"stage.param": value}}]',
    )
    .option("--metrics <stage...>", "stages whose numeric metrics to tabulate (default: targets)")
    .option("--json <file>", "also write every combination's outcomes and metrics as JSON")
    .option("--html <file>", "also write the pipeline's comparison page (samples, curves, metrics)")
    .action(
      async (
        stages: string[],
        o: ExecOptions & {
          vary?: string[];
          combos?: string;
          metrics?: string[];
          json?: string;
          html?: string;
        },
      ) => {
        if (!o.vary?.length && !o.combos) {
          throw new PipelineError("matrix needs --vary stage.param=v1,v2 or --combos <file>");
        }
        const variations = (o.vary ?? []).map(parseVariation);
        let named;
        if (o.combos) {
          let text: string;
          try {
            text = await Deno.readTextFile(o.combos);
          } catch (e) {
            if (!(e instanceof Deno.errors.NotFound)) throw e;
            throw new PipelineError(`--combos ${o.combos}: no such file`);
          }
          named = parseCombos(text, o.combos);
        }
        const exec = await execution(o);
        let cleaned = false;
        try {
          exitCode = await runMatrix({
            mod,
            variations,
            named,
            targets: stages.length ? stages : mod.defaultTargets,
            metricStages: o.metrics ?? (stages.length ? undefined : mod.defaultMetrics),
            json: o.json,
            html: o.html,
            jobs: o.jobs,
            engineFor: async (combo, slots, reporter) => {
              const { engine, store } = await setup(o, combo, { ...exec, slots, reporter });
              if (!cleaned) await store.cleanTmp();
              cleaned = true;
              return { engine, store };
            },
          });
        } finally {
          await exec.executor?.close();
        }
      },
    );

  common(
    program.command("run-key <stage>").description(
      "compute one stage whose upstream results are in the store (what a cluster job runs)",
    ),
  )
    .requiredOption("--key <key>", "the key the driver computed (refused if it differs here)")
    .requiredOption("--claim <token>", "the token of the driver's claim on that key")
    .action(async (stage: string, o: CommonOptions & { key: string; claim: string }) => {
      const { engine } = await setup(o);
      exitCode = await runKeyJob(engine, stage, o.key, o.claim);
    });

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
      const { store, graph, engine } = await setup(o);
      await withGcClaim(engine, o.wait, async () => {
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
      const { engine, store } = await setup(o);
      await store.cleanTmp();
      const results = await verifyStages(engine, stages);
      await store.flush();
      const bad = results.filter((r) => !r.identical);
      console.log(bad.length ? `verify: ${bad.length} stage(s) differ` : "verify: all identical");
      if (bad.length) exitCode = 1;
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

/** Options of the commands that compute stages (run, matrix). */
function execOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option("--executor <name>", "where stages run").choices(["local", "slurm"]).default(
        "local",
      ),
    )
    .option("-j, --jobs <n>", "stages (or slurm jobs) at once", (v) => Number(v), 1)
    .option(
      "--resources <stage.field=value...>",
      "override resources: gpus, cpus, mem, time, partition, exclusive, checkpointed (stage * = all)",
    )
    .option("--config <file>", `project config (default: ${CONFIG_FILE} beside the pipeline)`);
}

/**
 * gc deletes unreferenced objects, so no driver may be committing meanwhile: it claims the
 * store-wide gc name first, then checks that no key is claimed (drivers claim their key first,
 * then check for gc: whichever comes second sees the other).
 */
async function withGcClaim<T>(engine: Engine, wait: boolean, fn: () => Promise<T>): Promise<T> {
  for (let told = false;; told = true) {
    const attempt = await engine.claims.tryClaim(GC_CLAIM);
    if ("claim" in attempt) {
      const busy = (await engine.claims.live()).filter((c) =>
        c.token !== attempt.claim.owner.token
      );
      if (busy.length === 0) {
        try {
          return await fn();
        } finally {
          await attempt.claim.release();
        }
      }
      await attempt.claim.release();
      const who = busy.map((c) => `pid ${c.pid} on ${c.host}${c.job ? ` (job ${c.job})` : ""}`);
      if (!wait) {
        throw new PipelineError(
          `the store is in use by ${who.join(", ")}; run gc without --no-wait to wait`,
        );
      }
      if (!told) consoleReporter.line(`gc: waiting for ${who.join(", ")} to finish...`);
    } else if (!wait) {
      throw new PipelineError(`gc is already running (pid ${attempt.heldBy.pid})`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function firstExisting(paths: string[]): Promise<string | undefined> {
  for (const p of paths) if (await exists(p)) return p;
  return undefined;
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
