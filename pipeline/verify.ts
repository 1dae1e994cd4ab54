/**
 * Reproducibility check: re-runs stages from their recorded inputs in a scratch area, ignoring
 * the cache, and compares every output digest with the recorded run.
 */
import { join } from "node:path";
import type { Engine } from "./runner.ts";
import { keyOf } from "./key.ts";
import { removeIfExists } from "./fs_util.ts";
import type { OutputDigest, RunRecord } from "./stage.ts";
import { PipelineError, upstreamClosure } from "./graph.ts";

export interface VerifyResult {
  stage: string;
  identical: boolean;
  /** Differing output names or "output/relative/file" paths. */
  differs: string[];
  excluded: string[];
}

export async function verifyStages(engine: Engine, targets: string[]): Promise<VerifyResult[]> {
  const graph = engine.graph;
  const wanted = new Set(targets.length ? targets : graph.order);
  for (const t of wanted) engine.node(t);
  const needed = upstreamClosure(graph, [...wanted]);
  const records = new Map<string, RunRecord>();
  const results: VerifyResult[] = [];
  for (const name of graph.order.filter((n) => needed.has(n))) {
    const ing = await engine.ingredients(name, records);
    const key = ing ? await keyOf(ing) : null;
    const rec = key ? await engine.usableRecord(key) : null;
    if (!rec || !key) {
      throw new PipelineError(
        `verify: stage "${name}" has no result for its current key; run it first`,
      );
    }
    records.set(name, rec);
    await engine.store.materialise(rec, engine.node(name).def.outputs);
    if (!wanted.has(name)) continue;
    const scratch = await engine.store.tmpDir(`verify-${name}`);
    try {
      engine.reporter.line(`> ${name}: re-running in a scratch area`);
      const node = engine.node(name);
      const res = await engine.execute(node, key, records, {
        checkpointDir: join(scratch, "checkpoints"),
        outDir: join(scratch, "out"),
      });
      const excludedRules = node.def.nondeterministic ?? [];
      const differs: string[] = [];
      const excluded: string[] = [];
      for (const [out, path] of Object.entries(res.outputs)) {
        const now = await engine.store.stats.digest(path);
        compareOutput(out, rec.outputs[out], now, excludedRules, differs, excluded);
      }
      results.push({ stage: name, identical: differs.length === 0, differs, excluded });
      engine.reporter.line(
        differs.length
          ? `x ${name} differs: ${differs.join(", ")}`
          : `= ${name} identical${
            excluded.length ? ` (not compared: ${excluded.join(", ")})` : ""
          }`,
      );
    } finally {
      engine.store.stats.forget(scratch);
      await removeIfExists(scratch);
    }
  }
  return results;
}

function isExcluded(path: string, rules: string[]): boolean {
  return rules.some((r) => path === r || path.startsWith(r.endsWith("/") ? r : r + "/"));
}

function compareOutput(
  name: string,
  recorded: OutputDigest,
  now: OutputDigest,
  rules: string[],
  differs: string[],
  excluded: string[],
): void {
  if (isExcluded(name, rules)) return void excluded.push(name);
  if (!recorded.files || !now.files) {
    if (recorded.digest !== now.digest) differs.push(name);
    return;
  }
  const paths = new Set([...Object.keys(recorded.files), ...Object.keys(now.files)]);
  for (const p of [...paths].sort()) {
    const full = `${name}/${p}`;
    if (isExcluded(full, rules)) {
      excluded.push(full);
      continue;
    }
    if (recorded.files[p]?.digest !== now.files[p]?.digest) differs.push(full);
  }
}
