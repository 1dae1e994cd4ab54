/**
 * What a stage needs to run: declared on the stage, overridden by the project's config file
 * (`ganflow.config.json` beside the pipeline module) and then by `--resources` on the command
 * line. The Slurm executor turns them into `sbatch` flags; the local executor uses only
 * `exclusive` (stages sharing the tag never overlap on this machine). Resources never enter a
 * stage's key: where a stage runs does not change what it computes.
 */
import { PipelineError } from "./errors.ts";

export interface Resources {
  /** GPUs per job (`--gpus`). */
  gpus?: number;
  /** CPU cores (`--cpus-per-task`). */
  cpus?: number;
  /** Memory per node, Slurm syntax: "4G", "500M" (`--mem`). */
  mem?: string;
  /** Time limit, Slurm syntax: "30", "2:00:00", "1-12:00:00" (`--time`). */
  time?: string;
  partition?: string;
  /** Locally, stages sharing this tag never run at the same time (e.g. one "accelerator"). */
  exclusive?: string;
  /**
   * The stage saves checkpoints and resumes from them: on Slurm it is submitted with `--requeue`
   * and a signal before its time limit, on which it stops at its next checkpoint and requeues.
   */
  checkpointed?: boolean;
}

/** Settings of the Slurm executor (the `slurm` object of the config file). */
export interface SlurmSettings {
  /** Seconds between `squeue` calls (default 2). */
  pollSeconds: number;
  /** How long a job gone from `squeue` without a run record may still produce one (default 60). */
  graceSeconds: number;
  /** Seconds before the time limit at which a checkpointed stage is told to stop (default 300). */
  signalSeconds: number;
  /** Extra `sbatch` arguments, e.g. `["--account=proj"]`. */
  sbatchArgs: string[];
}

export interface ProjectConfig {
  /** Stage name (or "*" for every stage) -> resources. */
  resources: Record<string, Resources>;
  slurm: SlurmSettings;
}

export const CONFIG_FILE = "ganflow.config.json";

const FIELDS: Record<keyof Resources, (v: unknown) => unknown> = {
  gpus: (v) => count(v, 0),
  cpus: (v) => count(v, 1),
  mem: (v) => {
    if (!/^\d+[KMGT]?$/.test(String(v))) throw new Error(`"${v}" is not Slurm memory (e.g. 4G)`);
    return String(v);
  },
  time: (v) => (parseSlurmTime(String(v)), String(v)),
  partition: (v) => {
    if (!/^[\w.,-]+$/.test(String(v))) throw new Error(`"${v}" is not a partition name`);
    return String(v);
  },
  exclusive: (v) => String(v),
  checkpointed: (v) => {
    if (v === true || v === "true") return true;
    if (v === false || v === "false") return false;
    throw new Error(`"${v}" is not true or false`);
  },
};

function count(v: unknown, min: number): number {
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`"${v}" is not an integer >= ${min}`);
  return n;
}

/** Validates one stage's resources; `where` names the source in errors. */
export function checkResources(raw: unknown, where: string): Resources {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new PipelineError(`${where}: expected an object of resources`);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    const check = FIELDS[k as keyof Resources];
    if (!check) {
      throw new PipelineError(
        `${where}: unknown resource "${k}" (known: ${Object.keys(FIELDS).join(", ")})`,
      );
    }
    try {
      out[k] = check(v);
    } catch (e) {
      throw new PipelineError(`${where}.${k}: ${(e as Error).message}`);
    }
  }
  return out as Resources;
}

/** `stage.field=value` flags (stage "*" means every stage) -> per-stage resources. */
export function parseResourceFlags(flags: string[]): Record<string, Resources> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const f of flags) {
    const m = /^([a-z0-9*][a-z0-9-]*)\.([a-z]+)=(.+)$/.exec(f);
    if (!m) throw new PipelineError(`--resources ${f}: expected stage.field=value (stage or *)`);
    (out[m[1]] ??= {})[m[2]] = m[3];
  }
  return Object.fromEntries(
    Object.entries(out).map(([s, r]) => [s, checkResources(r, `--resources ${s}`)]),
  );
}

export const DEFAULT_SLURM: SlurmSettings = {
  pollSeconds: 2,
  graceSeconds: 60,
  signalSeconds: 300,
  sbatchArgs: [],
};

/** Reads the config file; a missing file is an empty config, a malformed one an error. */
export async function loadProjectConfig(path: string): Promise<ProjectConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { resources: {}, slurm: { ...DEFAULT_SLURM } };
    throw e;
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new PipelineError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const unknown = Object.keys(raw).filter((k) => k !== "resources" && k !== "slurm");
  if (unknown.length) {
    throw new PipelineError(
      `${path}: unknown section(s) ${unknown.join(", ")} (known: resources, slurm)`,
    );
  }
  const resources: Record<string, Resources> = {};
  for (const [stage, r] of Object.entries((raw.resources ?? {}) as Record<string, unknown>)) {
    resources[stage] = checkResources(r, `${path}: resources.${stage}`);
  }
  const slurm = { ...DEFAULT_SLURM };
  for (const [k, v] of Object.entries((raw.slurm ?? {}) as Record<string, unknown>)) {
    if (k === "sbatchArgs") {
      if (!Array.isArray(v) || v.some((a) => typeof a !== "string")) {
        throw new PipelineError(`${path}: slurm.sbatchArgs must be an array of strings`);
      }
      slurm.sbatchArgs = v;
    } else if (k in DEFAULT_SLURM) {
      if (typeof v !== "number" || !(v > 0)) {
        throw new PipelineError(`${path}: slurm.${k} must be a positive number of seconds`);
      }
      (slurm as unknown as Record<string, number>)[k] = v;
    } else {
      throw new PipelineError(
        `${path}: unknown setting slurm.${k} (known: ${Object.keys(DEFAULT_SLURM).join(", ")})`,
      );
    }
  }
  return { resources, slurm };
}

/**
 * A stage's resources, lowest precedence first: its declaration, the config's "*", the config's
 * entry for the stage, the command line's "*", the command line's entry for the stage.
 */
export function resolveResources(
  stage: string,
  declared: Resources | undefined,
  config: Record<string, Resources>,
  cli: Record<string, Resources>,
): Resources {
  return { ...declared, ...config["*"], ...config[stage], ...cli["*"], ...cli[stage] };
}

/** Names in config or flags that are not stages: almost certainly a typo. */
export function unknownStages(
  names: string[],
  sources: Record<string, Record<string, Resources>>,
): string[] {
  const known = new Set([...names, "*"]);
  return Object.entries(sources).flatMap(([where, r]) =>
    Object.keys(r).filter((s) => !known.has(s)).map((s) => `${where}: no stage named "${s}"`)
  );
}

/** `sbatch` flags for a stage's resources. */
export function sbatchFlags(r: Resources, slurm: SlurmSettings): string[] {
  const out: string[] = [`--cpus-per-task=${r.cpus ?? 1}`];
  if (r.gpus) out.push(`--gpus=${r.gpus}`);
  if (r.mem) out.push(`--mem=${r.mem}`);
  if (r.time) out.push(`--time=${r.time}`);
  if (r.partition) out.push(`--partition=${r.partition}`);
  if (r.checkpointed) {
    out.push("--requeue");
    if (r.time) {
      // Never more than half the limit, so a short limit still leaves time to work.
      const lead = Math.max(1, Math.min(slurm.signalSeconds, parseSlurmTime(r.time) / 2));
      out.push(`--signal=B:USR2@${Math.floor(lead)}`);
    }
  }
  return out;
}

/**
 * Seconds in a Slurm time limit: "M", "M:S", "H:M:S", "D-H", "D-H:M", "D-H:M:S".
 */
export function parseSlurmTime(s: string): number {
  const bad = () => new Error(`"${s}" is not a Slurm time (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S)`);
  const m = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(s);
  if (!m) throw bad();
  const [, d, a, b, c] = m;
  const n = (x: string | undefined) => (x === undefined ? 0 : Number(x));
  let secs: number;
  if (d !== undefined) secs = n(d) * 86400 + n(a) * 3600 + n(b) * 60 + n(c);
  else if (c !== undefined) secs = n(a) * 3600 + n(b) * 60 + n(c);
  else if (b !== undefined) secs = n(a) * 60 + n(b);
  else secs = n(a) * 60;
  if (secs <= 0) throw bad();
  return secs;
}
