/**
 * The stage API: a stage is a plain object declared in TypeScript. The DAG is derived from
 * the declarations (inputs name other stages' outputs), so a pipeline is just a module that
 * exports its stages.
 */
import type { z } from "zod";
import type { Resources } from "./resources.ts";

/** `"<stage>.<output>"` for another stage's output, or an external file or directory. */
export type InputRef = string | { path: string };

export interface StageDef<S extends z.ZodType = z.ZodType> {
  /** Unique, kebab-case. */
  name: string;
  /** `import.meta.url` of the declaring module: the root of the stage's code hash. */
  module: string;
  /** Zod schema of the parameters, with defaults. */
  params: S;
  /** Fixed, or computed from this stage's params (and, read-only, other stages' params). */
  inputs?:
    | Record<string, InputRef>
    | ((params: z.infer<S>, paramsOf: (stage: string) => unknown) => Record<string, InputRef>);
  /** Output name -> path relative to the stage's output directory (a file or a directory tree). */
  outputs: Record<string, string>;
  /**
   * What the stage needs (CPUs, memory, time, GPUs, an exclusive local device, checkpointing):
   * defaults that the project's config file and `--resources` override. Not part of the key.
   */
  resources?: Resources;
  /** Pipeline globals (e.g. "backend") whose values enter this stage's key. */
  uses?: string[];
  /** Output names (or "name/sub/path" prefixes) that `verify` does not compare (timings, logs). */
  nondeterministic?: string[];
  /** Writes the outputs; a returned object is stored as metrics in the run record. */
  run(ctx: StageContext<z.infer<S>>): Promise<void | Record<string, unknown>>;
}

export interface StageContext<P> {
  name: string;
  key: string;
  params: P;
  /** Absolute paths of the inputs (read-only). */
  inputs: Record<string, string>;
  /** Absolute paths inside a fresh temp directory (parents exist); committed after run(). */
  outputs: Record<string, string>;
  globals: Record<string, string>;
  /** Run records of every transitive upstream stage, by stage name. */
  records: Record<string, RunRecord>;
  checkpoint: Checkpoints;
  /** Reports progress; the runner renders elapsed time and ETA. */
  progress(done: number, total: number, label?: string): void;
  log(message: string): void;
  signal: AbortSignal;
}

export interface Checkpoints {
  /** The latest complete checkpoint for this key, or null. */
  load(): Promise<{ step: number; dir: string } | null>;
  /** `write` fills a fresh temp dir, which is fsynced and renamed into place; keeps the last `keep`. */
  save(step: number, write: (dir: string) => Promise<void>, keep?: number): Promise<void>;
}

/** A file or directory tree: its digest, and per-file digests for trees. */
export interface OutputDigest {
  digest: string;
  size: number;
  /** Present for directories: relative path -> file digest. */
  files?: Record<string, { digest: string; size: number }>;
}

/** What went into a key; kept so `status` and `explain` can say what changed. */
export interface KeyIngredients {
  name: string;
  code: Record<string, string>;
  deps: Record<string, string>;
  params: unknown;
  inputs: Record<string, string>;
  globals: Record<string, string>;
}

export interface RunRecord {
  stage: string;
  key: string;
  ingredients: KeyIngredients;
  outputs: Record<string, OutputDigest>;
  metrics: Record<string, unknown>;
  seconds: number;
  finishedAt: string;
  globals: Record<string, string>;
  params: unknown;
  /** Where it ran, when not in the driver's process (for timing the executor; not compared). */
  job?: { executor: string; id: string; host: string; startedAt: string; restarts: number };
}

export interface GlobalDef {
  name: string;
  description: string;
  default: string;
  choices?: string[];
}

/** What a pipeline module exports. */
export interface PipelineModule {
  stages: StageDef[];
  globals?: GlobalDef[];
  /** What `run` with no stage names builds (with everything upstream); default: every stage. */
  defaultTargets?: string[];
  /** Whose metrics `matrix` tabulates without --metrics or stage names; default: the targets. */
  defaultMetrics?: string[];
  /** Renders `matrix --html FILE`: one page comparing the combinations (HTML text). */
  matrixReport?(cells: MatrixCell[]): Promise<string>;
}

/** One combination of a matrix run, as `matrixReport` sees it. */
export interface MatrixCell {
  /** "stage.param=value ...", as the matrix table shows it. */
  label: string;
  combo: Record<string, unknown>;
  /** Run records of every stage this combination ran or found in the cache, by stage name. */
  records: Record<string, RunRecord>;
  /**
   * Read-only path of a stage's output file, or of a file inside an output tree (`path`); null
   * when the combination has no such stage, output or file.
   */
  file(stage: string, output: string, path?: string): string | null;
}

export function defineStage<S extends z.ZodType>(def: StageDef<S>): StageDef<S> {
  return def;
}
