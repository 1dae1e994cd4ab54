/**
 * A stage's cache key: the hash of its name, code, dependency versions, canonical parameters,
 * input digests and the globals it uses. `diffIngredients` says why two keys differ.
 */
import { canonicalJson, hashBytes } from "./hash.ts";
import type { KeyIngredients } from "./stage.ts";

export async function keyOf(ing: KeyIngredients): Promise<string> {
  const h = await hashBytes(canonicalJson(ing));
  return h.replace(/^xxh64:/, "");
}

/** Human-readable reasons, e.g. `param lr: 0.001 -> 0.002`, `code changed: models/g.ts`. */
export function diffIngredients(before: KeyIngredients, after: KeyIngredients): string[] {
  const why: string[] = [];
  diffValues("param", before.params, after.params, why);
  for (const k of union(before.inputs, after.inputs)) {
    if (before.inputs[k] !== after.inputs[k]) {
      why.push(
        before.inputs[k] === undefined
          ? `input added: ${k}`
          : after.inputs[k] === undefined
          ? `input removed: ${k}`
          : `input changed: ${k}`,
      );
    }
  }
  for (const k of union(before.code, after.code)) {
    if (before.code[k] === after.code[k]) continue;
    why.push(
      before.code[k] === undefined
        ? `code file added: ${k}`
        : after.code[k] === undefined
        ? `code file no longer imported: ${k}`
        : `code changed: ${k}`,
    );
  }
  for (const k of union(before.deps, after.deps)) {
    if (before.deps[k] !== after.deps[k]) {
      why.push(`dependency ${k}: ${before.deps[k] ?? "none"} -> ${after.deps[k] ?? "none"}`);
    }
  }
  for (const k of union(before.globals, after.globals)) {
    if (before.globals[k] !== after.globals[k]) {
      why.push(`--${k}: ${before.globals[k]} -> ${after.globals[k]}`);
    }
  }
  return why;
}

function union(a: object, b: object): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
}

function diffValues(path: string, a: unknown, b: unknown, out: string[]): void {
  if (canonicalJson(a) === canonicalJson(b)) return;
  if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a)) {
    for (const k of union(a, b)) {
      diffValues(
        `${path} ${k}`.replace(/^param /, "param "),
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        out,
      );
    }
    return;
  }
  out.push(`${path.replace(/ /g, ".").replace(/^param\./, "param ")}: ${show(a)} -> ${show(b)}`);
}

function show(v: unknown): string {
  return v === undefined ? "(unset)" : JSON.stringify(v);
}
