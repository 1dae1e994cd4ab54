/**
 * What a benchmark run measured, with its provenance, as a JSON file under bench/results/: the
 * figures, the exact command, date, commit, CPU model and features, core count, and the load
 * average before and after. docs/benchmarks.md and the README's figures are rendered from these
 * files (bench/render.ts); no figure is typed by hand.
 */
import { join } from "node:path";
import os from "node:os";
import { flagsOf, readProcCpuinfo } from "../backend/cpu_features.ts";

export interface Figure {
  /** Stable identifier other pages refer to, e.g. "step.onednn.64.ms". */
  id: string;
  /** What it is, for a reader. */
  label: string;
  value: number;
  unit: string;
  /** Min and max over repeats, where the figure is a median or mean of several. */
  spread?: [number, number];
}

export interface BenchResult {
  bench: string;
  command: string;
  date: string;
  commit: string;
  /** True when the working tree had uncommitted changes. */
  dirty: boolean;
  cpu: { model: string; cores: number; features: string[] };
  load: { before: number[]; after: number[] };
  figures: Figure[];
  /** One-line remarks the run printed that a reader needs (e.g. "PyTorch not found"). */
  notes: string[];
}

/** Collects one benchmark's figures while it runs; `finish` writes them. */
export class BenchRecorder {
  readonly figures: Figure[] = [];
  readonly notes: string[] = [];
  readonly #loadBefore = os.loadavg();

  constructor(readonly bench: string, readonly args: string[]) {}

  figure(id: string, label: string, value: number, unit: string, spread?: number[]): void {
    if (!Number.isFinite(value)) throw new Error(`figure ${id}: ${value} is not a number`);
    if (this.figures.some((f) => f.id === id)) throw new Error(`figure ${id} recorded twice`);
    const f: Figure = { id, label, value, unit };
    if (spread?.length) f.spread = [Math.min(...spread), Math.max(...spread)];
    this.figures.push(f);
  }

  note(line: string): void {
    this.notes.push(line);
  }

  /** The result with its provenance (git and /proc are read now). */
  async result(): Promise<BenchResult> {
    const git = async (...args: string[]) => {
      const out = await new Deno.Command("git", { args, stdout: "piped", stderr: "null" })
        .output().catch(() => null);
      return out?.success ? new TextDecoder().decode(out.stdout).trim() : "";
    };
    return {
      bench: this.bench,
      command: ["deno task bench", this.bench, ...this.args].join(" "),
      date: new Date().toISOString(),
      commit: await git("rev-parse", "--short=12", "HEAD") || "unknown",
      dirty: (await git("status", "--porcelain", "--untracked-files=no")) !== "",
      cpu: cpuInfo(),
      load: { before: round2(this.#loadBefore), after: round2(os.loadavg()) },
      figures: this.figures,
      notes: this.notes,
    };
  }

  /** Writes bench/results/<file>.json (default args: <bench>.json); returns its path. */
  async finish(dir = resultsDir()): Promise<string> {
    const path = join(dir, `${resultFileName(this.bench, this.args)}.json`);
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(path, JSON.stringify(await this.result(), null, 2) + "\n");
    return path;
  }
}

export function resultsDir(): string {
  return new URL("./results", import.meta.url).pathname;
}

/**
 * `methods` for default arguments, `methods--steps-9--skip-growth` otherwise, or
 * `methods--NAME` for `--label=NAME` (when the arguments name temporary paths, say).
 */
export function resultFileName(bench: string, args: string[]): string {
  const label = args.find((a) => a.startsWith("--label="))?.slice("--label=".length);
  const slug = (label ?? args.join(" ")).replace(/^-+/, "").replace(/[^A-Za-z0-9.]+/g, "-")
    .replace(/^-|-$/g, "");
  return slug ? `${bench}--${slug}` : bench;
}

/** CPU model, core count and the vector features that decide which kernels run. */
export function cpuInfo(): BenchResult["cpu"] {
  let model = os.cpus()[0]?.model ?? "unknown";
  let features: string[] = [];
  try {
    const info = readProcCpuinfo();
    model = info.match(/^model name\s*:\s*(.*)$/m)?.[1]?.trim() ?? model;
    const flags = flagsOf(info);
    features = ["avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni"]
      .filter((f) => flags.has(f));
  } catch {
    // Not Linux: the model from os.cpus() is all there is.
  }
  return { model, cores: navigator.hardwareConcurrency, features };
}

function round2(xs: number[]): number[] {
  return xs.map((x) => Math.round(x * 100) / 100);
}
