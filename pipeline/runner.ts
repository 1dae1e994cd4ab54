/**
 * Executes a DAG against a store: computes each stage's key once its inputs are known, restores
 * cached outputs or claims the key and has the executor compute it, and commits results
 * atomically. Independent stages run concurrently up to `jobs`; on the local executor stages
 * that share an exclusive resource tag never overlap. A key claimed by another driver (another
 * terminal, another user's matrix) is not computed twice: this driver waits for its record.
 */
import { join } from "node:path";
import type { Graph, GraphNode } from "./graph.ts";
import { downstreamClosure, PipelineError, upstreamClosure } from "./graph.ts";
import type { CacheStore } from "./store.ts";
import type { KeyIngredients, RunRecord } from "./stage.ts";
import { CodeHasher } from "./code_digest.ts";
import { diffIngredients, keyOf } from "./key.ts";
import { type Claim, Claims } from "./claim.ts";
import { type Executor, localExecutor, type StageTask } from "./executor.ts";
import { JobSlots } from "./job_slots.ts";
import type { Resources } from "./resources.ts";
import { consoleReporter, type Reporter } from "./reporter.ts";
import { executeStage, produceRecord } from "./stage_run.ts";
import { exists } from "./fs_util.ts";

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
  /** Where stages are computed (default: in this process). */
  executor?: Executor;
  /** Shared with other engines (a matrix's combinations) to bound executions together. */
  slots?: JobSlots;
  /** A stage's resolved resources (default: its declaration). */
  resources?: (stage: string) => Resources;
  /** false: fail instead of waiting for a key another driver is computing. */
  wait?: boolean;
  /** CLI flags that rebuild this graph in a job (see StageTask.jobArgs). */
  jobArgs?: string[];
  claims?: Claims;
}

/** The name claims use for `gc`, which must not run beside drivers that are committing. */
export const GC_CLAIM = "store-gc";

export class Engine {
  readonly code: CodeHasher;
  readonly reporter: Reporter;
  readonly executor: Executor;
  readonly claims: Claims;

  constructor(readonly graph: Graph, readonly store: CacheStore, readonly opts: EngineOptions) {
    this.code = new CodeHasher(opts.projectRoot);
    this.reporter = opts.reporter ?? consoleReporter;
    this.executor = opts.executor ?? localExecutor;
    this.claims = opts.claims ?? new Claims(store.root);
  }

  resourcesOf(name: string): Resources {
    return this.opts.resources?.(name) ?? this.node(name).def.resources ?? {};
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

  /**
   * Where a stage reads its inputs: external paths as given, other stages' outputs from the
   * immutable view of the exact upstream record (never from `out/`, which shows whichever
   * result another driver or matrix combination placed there last).
   */
  async inputPaths(
    node: GraphNode,
    upstream: Map<string, RunRecord>,
  ): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const [name, input] of Object.entries(node.inputs)) {
      if (input.kind === "path") {
        out[name] = input.path;
        continue;
      }
      const rec = upstream.get(input.stage);
      if (!rec) throw new PipelineError(`stage "${node.def.name}": no result of "${input.stage}"`);
      const outputs = this.node(input.stage).def.outputs;
      out[name] = join(await this.store.view(rec, outputs), outputs[input.output]);
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
    const slots = this.opts.slots ?? new JobSlots(jobs);
    const order = this.graph.order.filter((n) => selected.has(n));
    // Read every stage's code now, while it is what this process loaded: a key computed later
    // (when upstream is done) from files edited meanwhile would file results the old code made
    // under the new code's key. The hasher keeps these digests for the engine's lifetime.
    await Promise.all(order.map((n) => this.code.digest(this.node(n).def.module)));
    const records = new Map<string, RunRecord>();
    const results = new Map<string, StageResult>();
    const running = new Map<string, Promise<void>>();
    const pending = [...order];

    const start = (name: string) => {
      const p = this.#runOne(name, records, force.has(name), !!opts.dryRun, slots)
        .then((r) => {
          results.set(name, r);
        })
        .finally(() => {
          running.delete(name);
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
        if (slots.tagBusy(this.#exclusiveTag(name))) continue;
        pending.splice(i--, 1);
        start(name);
      }
      if (running.size) await Promise.race(running.values());
    }
    await this.store.flush();
    return order.map((n) => results.get(n)!);
  }

  /** The exclusive tag that matters for this executor (none on a cluster). */
  #exclusiveTag(name: string): string | undefined {
    return this.executor.local ? this.resourcesOf(name).exclusive : undefined;
  }

  async #runOne(
    name: string,
    records: Map<string, RunRecord>,
    forced: boolean,
    dryRun: boolean,
    slots: JobSlots,
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
      const got = await this.#claimOrWait(name, key, forced);
      if ("record" in got) {
        await this.#adopt(got.record, node.def.outputs);
        records.set(name, got.record);
        this.reporter.line(`= ${name} cached (computed by ${got.by})  [${key.slice(0, 8)}]`);
        return { stage: name, outcome: "cached", key, seconds: seconds() };
      }
      const release = await slots.acquire(this.#exclusiveTag(name));
      try {
        this.reporter.line(`> ${name} running: ${why.join("; ")}  [${key.slice(0, 8)}]`);
        const task: StageTask = {
          node,
          key,
          ingredients: ing,
          upstream: records,
          claim: got.claim,
          resources: this.resourcesOf(name),
          reporter: this.reporter,
          jobArgs: this.opts.jobArgs ?? [],
        };
        const record = await this.executor.run(task, (t) => this.produce(t));
        await this.#adopt(record, node.def.outputs);
        records.set(name, record);
        this.reporter.line(`+ ${name} done in ${record.seconds.toFixed(1)}s`);
        return { stage: name, outcome: "ran", key, seconds: seconds(), why };
      } finally {
        release();
        await got.claim.release();
      }
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

  /** Runs a stage into `outDir` in this process (see stage_run.ts); verify keeps the outputs. */
  execute(
    node: GraphNode,
    key: string,
    upstream: Map<string, RunRecord>,
    opts: { checkpointDir: string; outDir: string; stopAfterCheckpoint?: () => boolean },
  ): ReturnType<typeof executeStage> {
    return executeStage(this, node, key, upstream, opts);
  }

  /**
   * Claims `key`, or waits while another driver holds a live claim on it: its record appearing
   * ends the wait, a claim going stale (its holder killed) lets this driver take over.
   */
  async #claimOrWait(
    name: string,
    key: string,
    forced: boolean,
  ): Promise<{ claim: Claim } | { record: RunRecord; by: string }> {
    let told = "";
    for (let delay = 50;; delay = Math.min(delay * 2, 1000)) {
      if (!forced) {
        const rec = await this.store.getRecord(key);
        if (rec && (await this.store.verify(rec)).length === 0) {
          return { record: rec, by: told || "another driver" };
        }
      }
      const attempt = await this.claims.tryClaim(key);
      if ("claim" in attempt) {
        const gc = await this.claims.inspect(GC_CLAIM);
        if (gc && !(await this.claims.isStale(gc.owner, gc.ageMs))) {
          await attempt.claim.release();
          if (!told) this.reporter.line(`  ${name}: waiting for gc to finish...`);
          told ||= "gc";
        } else {
          // Finished by someone between our record check and our claim? Then nothing to do.
          const rec = forced ? null : await this.store.getRecord(key);
          if (rec && (await this.store.verify(rec)).length === 0) {
            await attempt.claim.release();
            return { record: rec, by: told || "another driver" };
          }
          return { claim: attempt.claim };
        }
      } else {
        const o = attempt.heldBy;
        const who = `pid ${o.pid} on ${o.host}${o.job ? `, slurm job ${o.job}` : ""}`;
        if (this.opts.wait === false) {
          throw new PipelineError(
            `${name} [${
              key.slice(0, 8)
            }] is being computed by ${who}; run without --no-wait to wait for its result`,
          );
        }
        if (!told) this.reporter.line(`  ${name}: waiting for ${who}, which is computing it`);
        told = who;
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /** Makes a record the stage's current result and places its outputs under out/. */
  async #adopt(record: RunRecord, outputs: Record<string, string>): Promise<void> {
    await this.store.setHead(record.stage, record.key);
    await this.store.materialise(record, outputs);
  }

  /** Computes a stage in this process and writes its record (see stage_run.ts). */
  produce(
    task: StageTask,
    opts: { stopAfterCheckpoint?: () => boolean; job?: RunRecord["job"] } = {},
  ): Promise<RunRecord> {
    return produceRecord(this, task, opts);
  }

  /**
   * Records of every stage upstream of `name` (computing their keys on the way), for a job that
   * runs one stage by key; throws naming the first upstream stage without a result.
   */
  async upstreamRecords(name: string): Promise<Map<string, RunRecord>> {
    const records = new Map<string, RunRecord>();
    const wanted = upstreamClosure(this.graph, [name]);
    for (const n of this.graph.order) {
      if (n === name || !wanted.has(n)) continue;
      const ing = await this.ingredients(n, records);
      const rec = ing ? await this.usableRecord(await keyOf(ing)) : null;
      if (!rec) throw new PipelineError(`upstream stage "${n}" of "${name}" has no result yet`);
      records.set(n, rec);
    }
    return records;
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
