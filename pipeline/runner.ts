/**
 * Executes a DAG against a store: computes each stage's key once its inputs are known, restores
 * cached outputs or runs the stage, and commits results atomically. Independent stages run
 * concurrently up to `jobs`; stages that share a resource tag never overlap.
 */
import { dirname, join } from "node:path";
import type { Graph, GraphNode } from "./graph.ts";
import { downstreamClosure, PipelineError, upstreamClosure } from "./graph.ts";
import type { CacheStore } from "./store.ts";
import type { KeyIngredients, OutputDigest, RunRecord, StageContext } from "./stage.ts";
import { CodeHasher } from "./code_digest.ts";
import { diffIngredients, keyOf } from "./key.ts";
import { checkpointsAt } from "./checkpoint.ts";
import { progressLine } from "./progress.ts";
import { exists, removeIfExists } from "./fs_util.ts";

export interface Reporter {
  /** A permanent line. */
  line(text: string): void;
  /** A line that the next line may overwrite (a progress bar on a terminal). */
  transient(text: string): void;
}

export const consoleReporter: Reporter = (() => {
  const tty = Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  let pending = false;
  return {
    line(text: string) {
      Deno.stderr.writeSync(enc.encode((pending ? "\r\x1b[2K" : "") + text + "\n"));
      pending = false;
    },
    transient(text: string) {
      if (!tty) return void Deno.stderr.writeSync(enc.encode(text + "\n"));
      Deno.stderr.writeSync(enc.encode("\r\x1b[2K" + text));
      pending = true;
    },
  };
})();

export type Outcome = "cached" | "ran" | "restored" | "failed" | "skipped" | "would run";

export interface StageResult {
  stage: string;
  outcome: Outcome;
  key?: string;
  seconds: number;
  error?: string;
  why?: string[];
}

export interface EngineOptions {
  projectRoot: string;
  globals: Record<string, string>;
  reporter?: Reporter;
}

export class Engine {
  readonly code: CodeHasher;
  readonly reporter: Reporter;

  constructor(readonly graph: Graph, readonly store: CacheStore, readonly opts: EngineOptions) {
    this.code = new CodeHasher(opts.projectRoot);
    this.reporter = opts.reporter ?? consoleReporter;
  }

  node(name: string): GraphNode {
    const n = this.graph.nodes.get(name);
    if (!n) throw new PipelineError(`no stage named "${name}"`);
    return n;
  }

  /** The key's ingredients, or null while an upstream stage has no result for its key yet. */
  async ingredients(
    name: string,
    upstream: Map<string, RunRecord>,
  ): Promise<KeyIngredients | null> {
    const node = this.node(name);
    const code = await this.code.digest(node.def.module);
    const inputs: Record<string, string> = {};
    for (const [inputName, input] of Object.entries(node.inputs)) {
      if (input.kind === "stage") {
        const rec = upstream.get(input.stage);
        if (!rec) return null;
        inputs[inputName] = rec.outputs[input.output].digest;
      } else {
        try {
          inputs[inputName] = (await this.store.stats.digest(input.path)).digest;
        } catch (e) {
          // "does not exist" only for the input itself; anything inside is reported as it is.
          const missing = e instanceof Deno.errors.NotFound && !(await exists(input.path));
          throw new PipelineError(
            `stage "${name}", input "${inputName}": ${input.path} ` +
              (missing ? "does not exist" : `cannot be read: ${(e as Error).message}`),
          );
        }
      }
    }
    const globals: Record<string, string> = {};
    for (const g of node.def.uses ?? []) {
      if (!(g in this.opts.globals)) {
        throw new PipelineError(
          `stage "${name}" uses global "${g}", which the pipeline does not declare`,
        );
      }
      globals[g] = this.opts.globals[g];
    }
    return { name, code: code.files, deps: code.deps, params: node.params, inputs, globals };
  }

  inputPaths(node: GraphNode): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, input] of Object.entries(node.inputs)) {
      out[name] = input.kind === "path"
        ? input.path
        : this.store.outPath(input.stage, this.node(input.stage).def.outputs[input.output]);
    }
    return out;
  }

  /** A usable record for `key`: present and every object intact. Corrupt ones are evicted. */
  async usableRecord(key: string): Promise<RunRecord | null> {
    const rec = await this.store.getRecord(key);
    if (!rec) return null;
    const bad = await this.store.verify(rec);
    if (bad.length === 0) return rec;
    this.reporter.line(
      `! ${rec.stage}: stored output ${
        bad.join(", ")
      } is missing or corrupt; evicting and recomputing`,
    );
    await this.store.deleteRecord(key);
    return null;
  }

  async run(opts: {
    targets?: string[];
    force?: string[];
    jobs?: number;
    dryRun?: boolean;
  } = {}): Promise<StageResult[]> {
    const selected = upstreamClosure(
      this.graph,
      opts.targets?.length ? opts.targets : this.graph.order,
    );
    for (const f of opts.force ?? []) this.node(f);
    const force = new Set(opts.force ?? []);
    const jobs = Math.max(1, opts.jobs ?? 1);
    const order = this.graph.order.filter((n) => selected.has(n));
    const records = new Map<string, RunRecord>();
    const results = new Map<string, StageResult>();
    const running = new Map<string, Promise<void>>();
    const busy = new Set<string>();
    const pending = [...order];

    const start = (name: string) => {
      const node = this.node(name);
      if (node.def.resource) busy.add(node.def.resource);
      const p = this.#runOne(name, records, force.has(name), !!opts.dryRun)
        .then((r) => {
          results.set(name, r);
        })
        .finally(() => {
          running.delete(name);
          if (node.def.resource) busy.delete(node.def.resource);
        });
      running.set(name, p);
    };

    while (pending.length || running.size) {
      for (let i = 0; i < pending.length && running.size < jobs; i++) {
        const name = pending[i];
        const node = this.node(name);
        const blocked = node.deps.find((d) => {
          const r = results.get(d);
          return r &&
            (r.outcome === "failed" || r.outcome === "skipped" || r.outcome === "would run");
        });
        if (blocked) {
          const r = results.get(blocked)!;
          results.set(name, {
            stage: name,
            outcome: r.outcome === "would run" ? "would run" : "skipped",
            seconds: 0,
            why: [
              `upstream ${blocked} ${r.outcome === "would run" ? "would run first" : r.outcome}`,
            ],
          });
          pending.splice(i--, 1);
          continue;
        }
        if (!node.deps.every((d) => records.has(d))) continue;
        if (node.def.resource && busy.has(node.def.resource)) continue;
        pending.splice(i--, 1);
        start(name);
      }
      if (running.size) await Promise.race(running.values());
    }
    await this.store.flush();
    return order.map((n) => results.get(n)!);
  }

  async #runOne(
    name: string,
    records: Map<string, RunRecord>,
    forced: boolean,
    dryRun: boolean,
  ): Promise<StageResult> {
    const node = this.node(name);
    const t0 = performance.now();
    const seconds = () => (performance.now() - t0) / 1000;
    try {
      const ing = (await this.ingredients(name, records))!;
      const key = await keyOf(ing);
      const cached = forced ? null : await this.usableRecord(key);
      const headKey = await this.store.head(name);
      if (cached) {
        await this.store.materialise(cached, node.def.outputs);
        records.set(name, cached);
        const outcome = headKey === key ? "cached" : "restored";
        if (headKey !== key) await this.store.setHead(name, key);
        this.reporter.line(
          `${outcome === "cached" ? "=" : "<"} ${name} ${outcome}${
            outcome === "restored" ? " (an earlier result for these inputs)" : ""
          }  [${key.slice(0, 8)}]`,
        );
        return { stage: name, outcome, key, seconds: seconds() };
      }
      const why = await this.#why(ing, headKey, forced);
      if (dryRun) {
        this.reporter.line(`? ${name} would run: ${why.join("; ")}`);
        return { stage: name, outcome: "would run", key, seconds: 0, why };
      }
      this.reporter.line(`> ${name} running: ${why.join("; ")}  [${key.slice(0, 8)}]`);
      const record = await this.#execute(node, key, ing, records);
      records.set(name, record);
      this.reporter.line(`+ ${name} done in ${record.seconds.toFixed(1)}s`);
      return { stage: name, outcome: "ran", key, seconds: seconds(), why };
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      this.reporter.line(`x ${name} failed: ${msg}`);
      if (e instanceof Error && e.stack && Deno.env.get("GANFLOW_DEBUG")) {
        this.reporter.line(e.stack);
      }
      return { stage: name, outcome: "failed", seconds: seconds(), error: msg };
    }
  }

  async #why(ing: KeyIngredients, headKey: string | null, forced: boolean) {
    if (forced) return ["forced"];
    if (!headKey) return ["never run"];
    const head = await this.store.getRecord(headKey);
    if (!head) return ["previous result missing"];
    const why = diffIngredients(head.ingredients, ing);
    return why.length ? why : ["previous result missing"];
  }

  /** Runs a stage into a temp dir; with `commit` false (verify) the outputs stay there. */
  async execute(
    node: GraphNode,
    key: string,
    upstream: Map<string, RunRecord>,
    opts: { checkpointDir: string; outDir: string },
  ): Promise<
    { metrics: Record<string, unknown>; outputs: Record<string, string>; seconds: number }
  > {
    const outputs: Record<string, string> = {};
    for (const [name, rel] of Object.entries(node.def.outputs)) {
      outputs[name] = join(opts.outDir, rel);
      await Deno.mkdir(dirname(outputs[name]), { recursive: true });
    }
    const name = node.def.name;
    const bar = progressLine(
      `  ${name}`,
      (text, transient) => transient ? this.reporter.transient(text) : this.reporter.line(text),
    );
    const recordsUp: Record<string, RunRecord> = {};
    for (const up of upstreamClosure(this.graph, [name])) {
      if (up !== name && upstream.has(up)) recordsUp[up] = upstream.get(up)!;
    }
    const abort = new AbortController();
    const ctx: StageContext<unknown> = {
      name,
      key,
      params: node.params,
      inputs: this.inputPaths(node),
      outputs,
      globals: Object.fromEntries((node.def.uses ?? []).map((g) => [g, this.opts.globals[g]])),
      records: recordsUp,
      checkpoint: checkpointsAt(opts.checkpointDir),
      progress: (done, total, label) => bar.update(done, total, label),
      log: (m) => this.reporter.line(`  ${name}: ${m}`),
      signal: abort.signal,
    };
    const t0 = performance.now();
    const metrics = (await node.def.run(ctx)) ?? {};
    bar.finish();
    return { metrics, outputs, seconds: (performance.now() - t0) / 1000 };
  }

  async #execute(
    node: GraphNode,
    key: string,
    ing: KeyIngredients,
    upstream: Map<string, RunRecord>,
  ): Promise<RunRecord> {
    const tmp = await this.store.tmpDir(node.def.name);
    try {
      const res = await this.execute(node, key, upstream, {
        checkpointDir: this.store.checkpointDir(key),
        outDir: tmp,
      });
      faultPoint("before-commit", node.def.name);
      const digests: Record<string, OutputDigest> = await this.store.commit(res.outputs);
      faultPoint("after-objects", node.def.name);
      const record: RunRecord = {
        stage: node.def.name,
        key,
        ingredients: ing,
        outputs: digests,
        metrics: res.metrics,
        seconds: res.seconds,
        finishedAt: new Date().toISOString(),
        globals: ing.globals,
        params: node.params,
      };
      await this.store.putRecord(record);
      faultPoint("after-record", node.def.name);
      await this.store.setHead(node.def.name, key);
      await removeIfExists(this.store.checkpointDir(key));
      await this.store.materialise(record, node.def.outputs);
      return record;
    } finally {
      await removeIfExists(tmp);
    }
  }

  /**
   * Per stage: cached / stale (with reasons) / missing, without running anything. Stages below
   * a stale one are reported stale too, since their inputs will change or at least be rebuilt.
   */
  async status(): Promise<
    { stage: string; state: "cached" | "stale" | "missing"; why: string[] }[]
  > {
    const records = new Map<string, RunRecord>();
    const out = [];
    for (const name of this.graph.order) {
      const ing = await this.ingredients(name, records);
      const headKey = await this.store.head(name);
      if (!ing) {
        const up = this.node(name).deps.filter((d) => !records.has(d));
        out.push({
          stage: name,
          state: headKey ? "stale" as const : "missing" as const,
          why: [`upstream ${up.join(", ")} not up to date`],
        });
        continue;
      }
      const key = await keyOf(ing);
      const rec = await this.usableRecord(key);
      if (rec) {
        records.set(name, rec);
        out.push({
          stage: name,
          state: "cached" as const,
          why: headKey === key ? [] : ["an earlier result for these inputs will be restored"],
        });
      } else {
        out.push({
          stage: name,
          state: headKey ? "stale" as const : "missing" as const,
          why: await this.#why(ing, headKey, false),
        });
      }
    }
    return out;
  }

  /** Downstream stages of `names` (for messages). */
  downstream(names: string[]): string[] {
    return [...downstreamClosure(this.graph, names)];
  }
}

/**
 * Crash-safety tests set GANFLOW_FAULT=<point>:<stage> to have the process SIGKILL itself at an
 * exact point of the commit protocol. Costs one env lookup per stage otherwise.
 */
function faultPoint(point: string, stage: string): void {
  if (Deno.env.get("GANFLOW_FAULT") === `${point}:${stage}`) Deno.kill(Deno.pid, "SIGKILL");
}
