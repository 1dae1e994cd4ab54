/**
 * Presets: named sets of parameter overrides kept in files, so a longer or differently tuned run
 * is one flag (`--preset long`) rather than a line of `--set`s. A preset is
 * `presets/<name>.json` beside the pipeline module (or any path ending in .json):
 * `{ "description": "...", "set": { "stage.param": value } }`. `--set` flags win over it.
 */
import { basename, join } from "node:path";
import { PipelineError } from "./graph.ts";

export interface Preset {
  name: string;
  description: string;
  set: Record<string, unknown>;
}

export const PRESET_DIR = "presets";

/** The presets in `dir`/presets, by name. */
export async function listPresets(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(join(dir, PRESET_DIR))) {
      if (e.isFile && e.name.endsWith(".json")) names.push(e.name.slice(0, -5));
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return names.sort();
}

export async function loadPreset(nameOrPath: string, dir: string): Promise<Preset> {
  const isPath = nameOrPath.endsWith(".json");
  const path = isPath ? nameOrPath : join(dir, PRESET_DIR, `${nameOrPath}.json`);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    const known = await listPresets(dir);
    throw new PipelineError(
      `--preset ${nameOrPath}: no such preset (${path})` +
        (known.length ? `; presets: ${known.join(", ")}` : ""),
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new PipelineError(`${path}: not JSON (${(e as Error).message})`);
  }
  const { description, set, ...rest } = (raw ?? {}) as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length) throw new PipelineError(`${path}: unknown field "${extra[0]}"`);
  if (typeof description !== "string") {
    throw new PipelineError(`${path}: "description" (a sentence saying what it is for) is missing`);
  }
  if (!set || typeof set !== "object" || Array.isArray(set)) {
    throw new PipelineError(`${path}: "set" must be an object of "stage.param": value`);
  }
  const bad = Object.keys(set).find((k) => !/^[^.]+\..+/.test(k));
  if (bad) throw new PipelineError(`${path}: "${bad}" is not stage.param`);
  return {
    name: isPath ? basename(path, ".json") : nameOrPath,
    description,
    set: set as Record<string, unknown>,
  };
}
