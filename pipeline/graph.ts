/**
 * Turns stage declarations into a validated DAG: parameters parsed (with overrides), inputs
 * resolved to producers or external paths, and every structural error found before anything
 * runs (duplicate names, missing producers or outputs, cycles, clashing output paths).
 */
import { isAbsolute, resolve } from "node:path";
import type { z } from "zod";
import type { InputRef, StageDef } from "./stage.ts";
import { PipelineError } from "./errors.ts";

export type ResolvedInput =
  | { kind: "stage"; stage: string; output: string }
  | { kind: "path"; path: string };

export interface GraphNode {
  def: StageDef;
  params: Record<string, unknown>;
  inputs: Record<string, ResolvedInput>;
  /** Names of the stages this one reads from. */
  deps: string[];
}

export interface Graph {
  nodes: Map<string, GraphNode>;
  /** Stage names in a topological order (producers first, declaration order among peers). */
  order: string[];
}

export { PipelineError };

class MissingParams extends PipelineError {
  constructor(readonly stage: string) {
    super(`no parameters for stage "${stage}"`);
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Dotted paths present in `raw` but absent from what the schema made of it. */
function unknownKeys(raw: unknown, parsed: unknown, prefix = ""): string[] {
  if (!isPlainObject(raw) || !isPlainObject(parsed)) return [];
  return Object.keys(raw).flatMap((k) =>
    k in parsed ? unknownKeys(raw[k], parsed[k], `${prefix}${k}.`) : [`${prefix}${k}`]
  );
}

/** `overrides` maps "stage.param" (dots for nested fields) to a value. */
export function buildGraph(
  stages: StageDef[],
  opts: { overrides?: Record<string, unknown>; baseDir: string },
): Graph {
  const errors: string[] = [];
  const nodes = new Map<string, GraphNode>();
  const names = new Set<string>();
  for (const s of stages) {
    if (names.has(s.name)) errors.push(`duplicate stage name "${s.name}"`);
    names.add(s.name);
    if (!/^[a-z0-9][a-z0-9-]*$/.test(s.name)) {
      errors.push(`stage name "${s.name}" must be kebab-case (a-z, 0-9, -)`);
    }
  }
  const overrides = opts.overrides ?? {};
  for (const key of Object.keys(overrides)) {
    const stage = key.split(".")[0];
    if (!names.has(stage)) errors.push(`--set ${key}: no stage named "${stage}"`);
  }
  // Parameters first, so input functions may consult other stages' parameters.
  const parsedParams = new Map<string, Record<string, unknown>>();
  const badParams = new Set<string>();
  for (const def of stages) {
    if (parsedParams.has(def.name)) continue;
    const raw: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(overrides)) {
      const [stage, ...path] = key.split(".");
      if (stage === def.name && path.length) setPath(raw, path, value);
    }
    const parsed = (def.params as z.ZodType).safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        errors.push(
          `stage "${def.name}", parameter "${issue.path.join(".") || "(root)"}": ${issue.message}`,
        );
      }
      badParams.add(def.name);
      continue;
    }
    // zod drops keys its schema does not know: a misspelt --set would silently change nothing.
    for (const path of unknownKeys(raw, parsed.data)) {
      const known = Object.keys(parsed.data as Record<string, unknown>).join(", ");
      errors.push(
        `--set ${def.name}.${path}: stage "${def.name}" has no parameter "${path}" (it has: ${known})`,
      );
    }
    parsedParams.set(def.name, parsed.data as Record<string, unknown>);
  }
  const paramsOf = (stage: string) => {
    const p = parsedParams.get(stage);
    if (!p) throw new MissingParams(stage);
    return structuredClone(p);
  };
  for (const def of stages) {
    if (nodes.has(def.name) || !parsedParams.has(def.name)) continue;
    const params = parsedParams.get(def.name)!;
    checkOutputs(def, errors);
    let refs: Record<string, InputRef>;
    try {
      refs = typeof def.inputs === "function" ? def.inputs(params, paramsOf) : def.inputs ?? {};
    } catch (e) {
      // A stage whose own parameters were refused has been reported already.
      if (!(e instanceof MissingParams && badParams.has(e.stage))) {
        errors.push(`stage "${def.name}", inputs: ${(e as Error).message}`);
      }
      continue;
    }
    const inputs: Record<string, ResolvedInput> = {};
    for (const [name, ref] of Object.entries(refs)) {
      if (typeof ref === "string") {
        const dot = ref.indexOf(".");
        if (dot <= 0) {
          errors.push(`stage "${def.name}", input "${name}": "${ref}" is not "<stage>.<output>"`);
          continue;
        }
        inputs[name] = { kind: "stage", stage: ref.slice(0, dot), output: ref.slice(dot + 1) };
      } else {
        const path = isAbsolute(ref.path) ? ref.path : resolve(opts.baseDir, ref.path);
        inputs[name] = { kind: "path", path };
      }
    }
    nodes.set(def.name, { def, params, inputs, deps: [] });
  }
  for (const node of nodes.values()) {
    const deps = new Set<string>();
    for (const [name, input] of Object.entries(node.inputs)) {
      if (input.kind !== "stage") continue;
      const producer = stages.find((s) => s.name === input.stage);
      if (!producer) {
        errors.push(
          `stage "${node.def.name}", input "${name}": no stage named "${input.stage}" produces it`,
        );
      } else if (!(input.output in producer.outputs)) {
        errors.push(
          `stage "${node.def.name}", input "${name}": stage "${input.stage}" has no output "${input.output}" (it has: ${
            Object.keys(producer.outputs).join(", ")
          })`,
        );
      } else deps.add(input.stage);
    }
    node.deps = [...deps];
  }
  if (errors.length === 0) {
    const cycle = findCycle(nodes);
    if (cycle) errors.push(`cycle: ${cycle.join(" -> ")}`);
  }
  if (errors.length) {
    throw new PipelineError(`invalid pipeline:\n  ${errors.join("\n  ")}`);
  }
  return { nodes, order: topoOrder(stages.map((s) => s.name), nodes) };
}

function checkOutputs(def: StageDef, errors: string[]): void {
  const entries = Object.entries(def.outputs);
  if (entries.length === 0) errors.push(`stage "${def.name}" declares no outputs`);
  for (const [name, path] of entries) {
    if (isAbsolute(path) || path.split("/").includes("..") || path === "") {
      errors.push(
        `stage "${def.name}", output "${name}": "${path}" must be a relative path inside the stage`,
      );
    }
  }
  for (let i = 0; i < entries.length; i++) {
    for (let j = i + 1; j < entries.length; j++) {
      const [a, pa] = entries[i];
      const [b, pb] = entries[j];
      if (pa === pb || pa.startsWith(pb + "/") || pb.startsWith(pa + "/")) {
        errors.push(`stage "${def.name}": outputs "${a}" and "${b}" claim the same path "${pa}"`);
      }
    }
  }
}

function findCycle(nodes: Map<string, GraphNode>): string[] | null {
  const state = new Map<string, 1 | 2>();
  const path: string[] = [];
  const visit = (n: string): string[] | null => {
    if (state.get(n) === 2) return null;
    if (state.get(n) === 1) return [...path.slice(path.indexOf(n)), n];
    state.set(n, 1);
    path.push(n);
    for (const d of nodes.get(n)?.deps ?? []) {
      const c = visit(d);
      if (c) return c;
    }
    path.pop();
    state.set(n, 2);
    return null;
  };
  for (const n of nodes.keys()) {
    const c = visit(n);
    if (c) return c.reverse();
  }
  return null;
}

function topoOrder(declared: string[], nodes: Map<string, GraphNode>): string[] {
  const order: string[] = [];
  const done = new Set<string>();
  const visit = (n: string) => {
    if (done.has(n)) return;
    done.add(n);
    for (const d of nodes.get(n)!.deps) visit(d);
    order.push(n);
  };
  for (const n of declared) visit(n);
  return order;
}

/** The stages named plus everything upstream of them. */
export function upstreamClosure(graph: Graph, names: string[]): Set<string> {
  const out = new Set<string>();
  const visit = (n: string) => {
    if (out.has(n)) return;
    const node = graph.nodes.get(n);
    if (!node) throw new PipelineError(`no stage named "${n}"`);
    out.add(n);
    for (const d of node.deps) visit(d);
  };
  for (const n of names) visit(n);
  return out;
}

/** The stages named plus everything downstream of them. */
export function downstreamClosure(graph: Graph, names: string[]): Set<string> {
  const out = new Set<string>(names);
  for (const n of graph.order) {
    if (graph.nodes.get(n)!.deps.some((d) => out.has(d))) out.add(n);
  }
  return out;
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const p of path.slice(0, -1)) {
    if (typeof cur[p] !== "object" || cur[p] === null) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[path[path.length - 1]] = value;
}
