/**
 * The Slurm executor: each stage the driver has claimed becomes one `sbatch` job running
 * `run-key` (exactly that stage, by key, in the same store). The driver keeps the DAG, as
 * Snakemake and Nextflow do, and learns that a job finished from its run record, read by path
 * (shared filesystems show new files late, so a missing record is retried, never concluded from
 * a directory listing). Failures come from one batched `squeue` call every few seconds, not from
 * `sacct`, which many clusters (and the test cluster) run without.
 */
import { join } from "node:path";
import type { Executor, StageTask } from "./executor.ts";
import { PipelineError } from "./graph.ts";
import { sbatchFlags, type SlurmSettings } from "./resources.ts";
import type { CacheStore } from "./store.ts";
import type { RunRecord } from "./stage.ts";
import { exists, writeFileAtomic } from "./fs_util.ts";
import { requeueMarker } from "./slurm_job.ts";

/** Job states that end a job without success. */
export const FAILURE_STATES = new Set([
  "FAILED",
  "CANCELLED",
  "TIMEOUT",
  "OUT_OF_MEMORY",
  "NODE_FAIL",
  "PREEMPTED",
  "BOOT_FAIL",
  "DEADLINE",
]);
/** Failure states after which Slurm itself requeues a job submitted with --requeue. */
const REQUEUED_AFTER = new Set(["PREEMPTED", "NODE_FAIL"]);

/** What a job runs: the CLI's `run-key`, then the task's pipeline, store, overrides, globals. */
export interface JobCommand {
  /** argv before the verb, e.g. [deno, "run", "-A", main.ts]. */
  prefix: string[];
  cwd: string;
}

export class SlurmJobFailed extends Error {
  override name = "SlurmJobFailed";
}

interface Watch {
  stage: string;
  key: string;
  job: string;
  log: string;
  requeue: boolean;
  /** When the job was first missing from squeue (or seen finished without a record). */
  goneSince?: number;
  lastState?: string;
  resolve(r: RunRecord): void;
  reject(e: Error): void;
}

export class SlurmExecutor implements Executor {
  readonly name = "slurm";
  readonly local = false;
  readonly #watches = new Map<string, Watch>();
  #polling = false;
  #pollDone: Promise<void> = Promise.resolve();
  #closed = false;
  /** sbatch calls made (a fully cached re-run makes none). */
  submitted = 0;

  constructor(
    readonly store: CacheStore,
    readonly command: JobCommand,
    readonly settings: SlurmSettings,
    readonly env: Record<string, string> = {},
  ) {}

  async run(task: StageTask): Promise<RunRecord> {
    const name = task.node.def.name;
    const logDir = join(this.store.root, "logs");
    const jobDir = join(this.store.root, "jobs");
    await Deno.mkdir(logDir, { recursive: true });
    const script = join(jobDir, `${name}-${task.key.slice(0, 16)}.sh`);
    const argv = [
      ...this.command.prefix,
      "run-key",
      name,
      "--key",
      task.key,
      "--claim",
      task.claim.owner.token,
      ...task.jobArgs,
    ];
    await writeFileAtomic(
      script,
      `#!/bin/sh\n# ganflow: stage ${name}, key ${task.key}\nexec ${
        argv.map(shellQuote).join(" ")
      }\n`,
    );
    await Deno.chmod(script, 0o755);
    const logPattern = join(logDir, `${name}-${task.key.slice(0, 8)}-%j.log`);
    const flags = [
      "--parsable",
      `--job-name=gf-${name}`,
      `--output=${logPattern}`,
      "--open-mode=append", // a requeued job continues its log
      `--chdir=${this.command.cwd}`,
      ...sbatchFlags(task.resources, this.settings),
      ...this.settings.sbatchArgs,
      script,
    ];
    const out = await this.#slurm("sbatch", flags);
    if (out.code !== 0) {
      throw new PipelineError(`sbatch refused stage "${name}": ${out.stderr.trim() || out.stdout}`);
    }
    const job = out.stdout.trim().split(";")[0];
    if (!/^\d+$/.test(job)) throw new PipelineError(`sbatch printed no job id: "${out.stdout}"`);
    this.submitted++;
    await task.claim.setJob(job);
    const submitted = Date.now();
    const log = logPattern.replace("%j", job);
    task.reporter.line(`  ${name}: slurm job ${job}, log ${log}`);
    const record = await new Promise<RunRecord>((resolve, reject) => {
      this.#watches.set(job, {
        stage: name,
        key: task.key,
        job,
        log,
        requeue: !!task.resources.checkpointed,
        resolve,
        reject,
      });
      if (!this.#polling) {
        // Cleared by #poll in the same tick its loop ends, so no watch is ever left unpolled.
        this.#polling = true;
        this.#pollDone = this.#poll();
      }
    });
    task.reporter.line(`  ${name}: slurm job ${job} ${jobTimes(record, submitted)}`);
    return record;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const jobs = [...this.#watches.keys()];
    for (const w of this.#watches.values()) w.reject(new Error("the driver stopped"));
    this.#watches.clear();
    if (jobs.length) await this.#slurm("scancel", jobs);
    await this.#pollDone;
  }

  /** One loop for every job in flight: records every half second, squeue every pollSeconds. */
  async #poll(): Promise<void> {
    try {
      await this.#pollLoop();
    } catch (e) {
      // squeue missing or the like: every job in flight fails with the reason.
      this.#polling = false;
      for (const w of [...this.#watches.values()]) this.#settle(w, () => w.reject(e as Error));
    }
  }

  async #pollLoop(): Promise<void> {
    let lastSqueue = 0;
    let warned = false;
    while (true) {
      // Checked and cleared with no await in between: a watch added later starts a new loop.
      if (!this.#watches.size || this.#closed) {
        this.#polling = false;
        return;
      }
      await new Promise((r) => setTimeout(r, 500));
      for (const w of [...this.#watches.values()]) {
        const rec = await this.#record(w.key);
        if (rec) this.#settle(w, () => w.resolve(rec));
      }
      if (!this.#watches.size || Date.now() - lastSqueue < this.settings.pollSeconds * 1000) {
        continue;
      }
      lastSqueue = Date.now();
      const states = await this.#squeue([...this.#watches.keys()]);
      if (!states) {
        if (!warned) console.error("ganflow: squeue failed; retrying (jobs keep running)");
        warned = true;
        continue;
      }
      for (const w of [...this.#watches.values()]) await this.#judge(w, states.get(w.job));
    }
  }

  async #judge(w: Watch, state: string | undefined): Promise<void> {
    w.lastState = state ?? w.lastState;
    const failed = state !== undefined && FAILURE_STATES.has(state) &&
      !(w.requeue && REQUEUED_AFTER.has(state));
    if (failed && await exists(requeueMarker(this.store.root, w.job))) {
      // Requeueing itself after a checkpoint: wait (within the grace period) for it to return.
      w.goneSince ??= Date.now();
      if (Date.now() - w.goneSince < this.settings.graceSeconds * 1000) return;
    }
    if (failed) {
      // A job may be cancelled or time out after writing its record: the record wins.
      const rec = await this.#record(w.key, 3);
      if (rec) return this.#settle(w, () => w.resolve(rec));
      return this.#settle(w, async () =>
        w.reject(
          new SlurmJobFailed(
            `stage "${w.stage}": slurm job ${w.job} ${state}; log ${w.log}:\n${await tail(w.log)}`,
          ),
        ));
    }
    const active = state !== undefined && state !== "COMPLETED" && !FAILURE_STATES.has(state);
    if (active) {
      w.goneSince = undefined;
      return;
    }
    // Gone from squeue (or COMPLETED, or a failure Slurm will requeue) and no record yet: the
    // record may still be on its way through the filesystem's caches. Wait out the grace period.
    w.goneSince ??= Date.now();
    if (Date.now() - w.goneSince < this.settings.graceSeconds * 1000) return;
    const what = state === undefined
      ? `left the queue (last seen ${w.lastState ?? "never"})`
      : `ended ${state}`;
    this.#settle(w, async () =>
      w.reject(
        new SlurmJobFailed(
          `stage "${w.stage}": slurm job ${w.job} ${what} without writing a run record within ${this.settings.graceSeconds}s; log ${w.log}:\n${await tail(
            w.log,
          )}`,
        ),
      ));
  }

  #settle(w: Watch, fn: () => void | Promise<void>): void {
    if (this.#watches.get(w.job) !== w) return;
    this.#watches.delete(w.job);
    void Promise.resolve(fn()).catch(w.reject);
  }

  /** The record by path; `tries` > 1 re-reads after a pause (attribute caching on NFS). */
  async #record(key: string, tries = 1): Promise<RunRecord | null> {
    for (let i = 0; i < tries; i++) {
      if (i) await new Promise((r) => setTimeout(r, 1000));
      const rec = await this.store.getRecord(key);
      if (rec) return rec;
    }
    return null;
  }

  /** Job id -> state for the jobs squeue still knows; null when squeue itself failed. */
  async #squeue(jobs: string[]): Promise<Map<string, string> | null> {
    const out = await this.#slurm("squeue", [
      "--noheader",
      "--states=all",
      "--format=%i %T",
      `--jobs=${jobs.join(",")}`,
    ]);
    const states = new Map<string, string>();
    if (out.code !== 0) {
      // Every id purged from the controller's memory: squeue refuses the whole list.
      return /Invalid job id/i.test(out.stderr) ? states : null;
    }
    for (const line of out.stdout.split("\n")) {
      const [id, state] = line.trim().split(/\s+/);
      if (id && state) states.set(id, state.replace(/\+$/, ""));
    }
    return states;
  }

  async #slurm(cmd: string, args: string[]) {
    try {
      const out = await new Deno.Command(cmd, {
        args,
        env: this.env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new PipelineError(
          `--executor slurm: "${cmd}" not found (install slurm-client, or run on a cluster's login node)`,
        );
      }
      throw e;
    }
  }
}

/**
 * Where a job's time went: queued (submission to the job's process starting), ran (its process
 * start to the record), noticed (record to the driver seeing it). After requeues, "queued" counts
 * from submission to the last start. Bench `cluster` reads this line.
 */
export function jobTimes(record: RunRecord, submitted: number, now = Date.now()): string {
  const start = Date.parse(record.job?.startedAt ?? record.finishedAt);
  const end = Date.parse(record.finishedAt);
  const s = (ms: number) => (ms / 1000).toFixed(2);
  const restarts = record.job?.restarts
    ? ` (started ${record.job.restarts + 1} times: requeued)`
    : "";
  return `timing: queued ${s(start - submitted)}s, ran ${s(end - start)}s, noticed ${
    s(now - end)
  }s after${restarts}`;
}

/** The last lines of a job's log (it may not exist if the job never started). */
export async function tail(path: string, lines = 20): Promise<string> {
  let text: string;
  try {
    const f = await Deno.open(path);
    try {
      const size = (await f.stat()).size;
      const n = Math.min(size, 8192);
      await f.seek(size - n, Deno.SeekMode.Start);
      const buf = new Uint8Array(n);
      let off = 0;
      while (off < n) {
        const r = await f.read(buf.subarray(off));
        if (r === null) break;
        off += r;
      }
      text = new TextDecoder().decode(buf.subarray(0, off));
    } finally {
      f.close();
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "  (no log: the job never started)";
    throw e;
  }
  return text.trimEnd().split("\n").slice(-lines).map((l) => `  | ${l}`).join("\n");
}

export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}
