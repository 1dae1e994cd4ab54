/**
 * Running one stage in this process: a fresh output dir, the stage's context (inputs from the
 * upstream records' views, key-bound checkpoints, progress), then committing its outputs and
 * writing its run record. Used by the local executor, by `run-key` in a cluster job and by
 * `verify` (which keeps the outputs in a scratch dir instead of committing them).
 */
import { dirname, join } from "node:path";
import type { GraphNode } from "./graph.ts";
import { upstreamClosure } from "./graph.ts";
import type { Checkpoints, OutputDigest, RunRecord, StageContext } from "./stage.ts";
import { checkpointsAt } from "./checkpoint.ts";
import { progressLine } from "./progress.ts";
import { removeIfExists } from "./fs_util.ts";
import type { StageTask } from "./executor.ts";
import type { Graph } from "./graph.ts";
import type { CacheStore } from "./store.ts";
import type { Reporter } from "./reporter.ts";

/** What running a stage needs of the engine (runner.ts's Engine has it). */
export interface StageEngine {
  readonly graph: Graph;
  readonly store: CacheStore;
  readonly reporter: Reporter;
  readonly opts: { globals: Record<string, string> };
  inputPaths(node: GraphNode, upstream: Map<string, RunRecord>): Promise<Record<string, string>>;
}

/** Runs a stage into `opts.outDir`; verify keeps the outputs there, produceRecord commits them. */
export async function executeStage(
  engine: StageEngine,
  node: GraphNode,
  key: string,
  upstream: Map<string, RunRecord>,
  opts: { checkpointDir: string; outDir: string; stopAfterCheckpoint?: () => boolean },
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
    (text, transient) => transient ? engine.reporter.transient(text) : engine.reporter.line(text),
  );
  const recordsUp: Record<string, RunRecord> = {};
  for (const up of upstreamClosure(engine.graph, [name])) {
    if (up !== name && upstream.has(up)) recordsUp[up] = upstream.get(up)!;
  }
  const abort = new AbortController();
  const ctx: StageContext<unknown> = {
    name,
    key,
    params: node.params,
    inputs: await engine.inputPaths(node, upstream),
    outputs,
    globals: Object.fromEntries((node.def.uses ?? []).map((g) => [g, engine.opts.globals[g]])),
    records: recordsUp,
    checkpoint: stoppable(checkpointsAt(opts.checkpointDir), opts.stopAfterCheckpoint),
    progress: (done, total, label) => bar.update(done, total, label),
    log: (m) => engine.reporter.line(`  ${name}: ${m}`),
    signal: abort.signal,
  };
  const t0 = performance.now();
  const metrics = (await node.def.run(ctx)) ?? {};
  bar.finish();
  return { metrics, outputs, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Computes a stage in this process and writes its record (objects first, then the record,
 * each published by rename). `stopAfterCheckpoint` turns the next checkpoint into the last
 * one: the stage saves it and stops with `Preempted`, to be resumed later from it.
 */
export async function produceRecord(
  engine: StageEngine,
  task: StageTask,
  opts: { stopAfterCheckpoint?: () => boolean; job?: RunRecord["job"] } = {},
): Promise<RunRecord> {
  const { node, key } = task;
  const tmp = await engine.store.tmpDir(node.def.name);
  try {
    const res = await executeStage(engine, node, key, task.upstream, {
      checkpointDir: engine.store.checkpointDir(key),
      outDir: tmp,
      stopAfterCheckpoint: opts.stopAfterCheckpoint,
    });
    faultPoint("before-commit", node.def.name);
    const digests: Record<string, OutputDigest> = await engine.store.commit(res.outputs);
    faultPoint("after-objects", node.def.name);
    const record: RunRecord = {
      stage: node.def.name,
      key,
      ingredients: task.ingredients,
      outputs: digests,
      metrics: res.metrics,
      seconds: res.seconds,
      finishedAt: new Date().toISOString(),
      globals: task.ingredients.globals,
      params: node.params,
      ...(opts.job ? { job: opts.job } : {}),
    };
    await engine.store.putRecord(record);
    faultPoint("after-record", node.def.name);
    await removeIfExists(engine.store.checkpointDir(key));
    return record;
  } finally {
    await removeIfExists(tmp);
  }
}

/** Thrown by a stage's checkpoint save when it was asked to stop there (a cluster's warning). */
export class Preempted extends Error {
  override name = "Preempted";
  constructor(readonly step: number) {
    super(`stopped after saving the checkpoint at step ${step}`);
  }
}

function stoppable(c: Checkpoints, stop?: () => boolean): Checkpoints {
  if (!stop) return c;
  return {
    load: () => c.load(),
    async save(step, write, keep) {
      await c.save(step, write, keep);
      if (stop()) throw new Preempted(step);
    },
  };
}

/**
 * Crash-safety tests set GANFLOW_FAULT=<point>:<stage> to have the process SIGKILL itself at an
 * exact point of the commit protocol. Costs one env lookup per stage otherwise.
 */
function faultPoint(point: string, stage: string): void {
  if (Deno.env.get("GANFLOW_FAULT") === `${point}:${stage}`) Deno.kill(Deno.pid, "SIGKILL");
}
