/**
 * `--executor slurm` on a real single-node Slurm cluster (started here, or the one named by
 * GANFLOW_TEST_SLURM_CONF): same keys and outputs as the local executor, nothing submitted on
 * a re-run, a cancelled job reported with its stage and log and resumed from its checkpoint
 * later, requeues on the time-limit signal, and two drivers computing each key once.
 * Without Slurm (or root) the test is ignored, with the reason printed.
 */
import { assert, assertEquals } from "../tests/assert.ts";
import { join } from "node:path";
import { makeToy, type Toy } from "./testing/toy_project.ts";
import { COUNTER_STAGE, TOY_FILES } from "./testing/toy_files.ts";
import { slurmUnavailable, startTestCluster, type TestCluster } from "./testing/slurm_cluster.ts";
import type { RunRecord } from "./stage.ts";

const unavailable = slurmUnavailable();
if (unavailable) console.log(`slurm_test: ignored: ${unavailable}`);

async function records(store: string): Promise<Map<string, RunRecord>> {
  const out = new Map<string, RunRecord>();
  for await (const e of Deno.readDir(join(store, "heads"))) {
    const { key } = JSON.parse(await Deno.readTextFile(join(store, "heads", e.name)));
    const rec = JSON.parse(await Deno.readTextFile(join(store, "runs", `${key}.json`)));
    out.set(rec.stage, rec);
  }
  return out;
}

/** Stage -> [key, output digests]: what must agree between executors. */
async function fingerprint(store: string) {
  const fp: Record<string, [string, Record<string, string>]> = {};
  for (const [stage, rec] of await records(store)) {
    fp[stage] = [
      rec.key,
      Object.fromEntries(Object.entries(rec.outputs).map(([k, d]) => [k, d.digest])),
    ];
  }
  return fp;
}

/** Every run record of a store: key -> stage and output digests. */
async function allRecords(store: string) {
  const out: Record<string, [string, Record<string, string>]> = {};
  for await (const e of Deno.readDir(join(store, "runs"))) {
    const rec: RunRecord = JSON.parse(await Deno.readTextFile(join(store, "runs", e.name)));
    out[rec.key] = [
      rec.stage,
      Object.fromEntries(Object.entries(rec.outputs).map(([k, d]) => [k, d.digest])),
    ];
  }
  return out;
}

/** The default GAN pipeline (dag.ts) at toy size, as the end-to-end test runs it. */
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const TINY = Object.entries({
  "prepare.source": "procedural",
  "prepare.limit": 96,
  "prepare.resolution": 16,
  "train-autoencoder.steps": 6,
  "train-autoencoder.batch": 8,
  "train-autoencoder.holdout": 16,
  "train-autoencoder.checkpointEvery": 3,
  "train-generator.steps": 6,
  "train-generator.batch": 8,
  "train-generator.baseChannels": 32,
  "train-generator.sampleEvery": 3,
  "train-generator.checkpointEvery": 3,
  "sample.count": 32,
  "real-stats.count": 16,
}).flatMap(([k, v]) => ["--set", `${k}=${v}`]);

async function logs(store: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(join(store, "logs")))).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

async function slurm(env: Record<string, string>, cmd: string, ...args: string[]) {
  const out = await new Deno.Command(cmd, { args, env }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

/** Waits (up to a minute) for `probe` to return a value. */
async function until<T>(what: string, probe: () => Promise<T | null | undefined>): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const v = await probe();
    if (v !== null && v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The slurm job id in the claim of the store's only claimed key, once it is submitted. */
async function claimedJob(store: string): Promise<string | null> {
  try {
    for await (const e of Deno.readDir(join(store, "claims"))) {
      if (!e.name.endsWith(".json")) continue;
      const owner = JSON.parse(await Deno.readTextFile(join(store, "claims", e.name)));
      if (owner.job) return owner.job;
    }
  } catch { /* not yet */ }
  return null;
}

async function checkpointStep(store: string): Promise<number> {
  let best = 0;
  try {
    for await (const k of Deno.readDir(join(store, "checkpoints"))) {
      for await (const s of Deno.readDir(join(store, "checkpoints", k.name))) {
        const m = /^step-(\d+)$/.exec(s.name);
        if (m) best = Math.max(best, Number(m[1]));
      }
    }
  } catch { /* none yet */ }
  return best;
}

const decode = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test({
  name: "slurm executor on a single-node cluster",
  ignore: unavailable !== null,
  async fn(t) {
    const cluster: TestCluster = await startTestCluster();
    const env = { ...cluster.env, GANFLOW_CLAIM_STALE_S: "20" };
    const toys: Toy[] = [];
    const toy = async (files: Record<string, string>) => {
      const t = await makeToy(files);
      toys.push(t);
      return t;
    };
    try {
      await t.step(
        "toy pipeline: same keys and outputs as local; a re-run submits nothing",
        async () => {
          const p = await toy(TOY_FILES);
          const local = await p.cli(["run", "--store", join(p.dir, "local")]);
          assertEquals(local.code, 0, local.stderr);
          const store = join(p.dir, "cluster");
          const r = await p.cli(["run", "--store", store, "--executor", "slurm", "-j", "3"], env);
          assertEquals(r.code, 0, r.stderr);
          assertEquals(p.outcomes(r.stdout), { a: "ran", b: "ran", c: "ran" });
          assertEquals(await fingerprint(store), await fingerprint(join(p.dir, "local")));
          assertEquals((await logs(store)).length, 3, "one log per job, in the store");
          assertEquals((r.stderr.match(/slurm job \d+, log /g) ?? []).length, 3);
          const again = await p.cli(["run", "--store", store, "--executor", "slurm"], env);
          assertEquals(again.code, 0, again.stderr);
          assertEquals(p.outcomes(again.stdout), { a: "cached", b: "cached", c: "cached" });
          assert(!/slurm job/.test(again.stderr), again.stderr);
          assertEquals((await logs(store)).length, 3);
        },
      );

      await t.step(
        "scancel: a clear error naming stage, job and log; the next run resumes",
        async () => {
          const p = await toy({ "pipeline.ts": COUNTER_STAGE });
          const store = join(p.dir, "store");
          const args = ["run", "--store", store, "--set", "counter.steps=40"];
          const child = p.spawn(
            [...args, "--set", "counter.delayMs=200", "--executor", "slurm"],
            env,
          );
          const job = await until("the job id", () => claimedJob(store));
          await until("3 checkpoints", async () => (await checkpointStep(store)) >= 3 || null);
          await slurm(env, "scancel", job);
          const out = await child.output();
          const err = decode(out.stderr);
          assertEquals(out.code, 1, err);
          const log = join(store, "logs", `${(await logs(store))[0]}`);
          assert(
            err.includes(`stage "counter": slurm job ${job} CANCELLED; log ${log}`),
            err,
          );
          assert(err.includes("ganflow run-key: stage counter"), "the log's tail is shown: " + err);
          const reached = await checkpointStep(store);
          const again = await p.cli([
            ...args,
            "--set",
            "counter.delayMs=200",
            "--executor",
            "slurm",
          ], env);
          assertEquals(again.code, 0, again.stderr);
          const rec = (await records(store)).get("counter")!;
          assert(
            (rec.metrics.resumedFrom as number) >= reached,
            `resumed from ${rec.metrics.resumedFrom}`,
          );
          assertEquals(JSON.parse(await Deno.readTextFile(join(store, "out/counter/count.json"))), {
            total: (39 * 40) / 2,
          });
        },
      );

      await t.step(
        "the time-limit signal: checkpoint, requeue, resume; output equals local",
        async () => {
          const p = await toy({ "pipeline.ts": COUNTER_STAGE });
          const store = join(p.dir, "store");
          const args = [
            "run",
            "--store",
            store,
            "--set",
            "counter.steps=30",
            "--set",
            "counter.delayMs=100",
          ];
          const child = p.spawn([...args, "--executor", "slurm"], env);
          const job = await until("the job id", () => claimedJob(store));
          // What Slurm sends with --signal=B:USR2@N before the time limit, sent now, twice.
          for (const atLeast of [3, 12]) {
            await until(
              `step ${atLeast}`,
              async () => (await checkpointStep(store)) >= atLeast || null,
            );
            const state = await until(
              "RUNNING",
              async () =>
                (await slurm(env, "squeue", "-h", "-j", job, "-o", "%T")) === "RUNNING" || null,
            );
            assert(state);
            await slurm(env, "scancel", "--signal=USR2", "--batch", job);
            await until(
              "the requeue",
              async () =>
                (await slurm(env, "squeue", "-h", "-j", job, "-o", "%T")) !== "RUNNING" || null,
            );
          }
          const out = await child.output();
          assertEquals(out.code, 0, decode(out.stderr));
          const log = await Deno.readTextFile(join(store, "logs", (await logs(store))[0]));
          assertEquals((log.match(/SIGUSR2/g) ?? []).length, 2, log);
          assert(!log.includes("Debugger"), log);
          assertEquals((log.match(/restart 2/g) ?? []).length, 1, log);
          const rec = (await records(store)).get("counter")!;
          assert(
            (rec.metrics.resumedFrom as number) >= 12,
            `resumed from ${rec.metrics.resumedFrom}`,
          );
          assertEquals(rec.job?.restarts, 2);
          const local = await p.cli([
            ...args.slice(0, 1),
            "--store",
            join(p.dir, "local"),
            ...args.slice(3),
          ]);
          assertEquals(local.code, 0, local.stderr);
          assertEquals(await fingerprint(store), await fingerprint(join(p.dir, "local")));
        },
      );

      await t.step(
        "a driver killed with kill -9: the next one waits for the job, submits nothing",
        async () => {
          const p = await toy({ "pipeline.ts": COUNTER_STAGE });
          const store = join(p.dir, "store");
          const args = [
            ...["run", "--store", store, "--executor", "slurm"],
            ...["--set", "counter.steps=25", "--set", "counter.delayMs=200"],
          ];
          const first = p.spawn(args, env);
          const job = await until("the job id", () => claimedJob(store));
          first.kill("SIGKILL");
          await first.output();
          const next = await p.cli(args, env);
          assertEquals(next.code, 0, next.stderr);
          assert(next.stderr.includes(`slurm job ${job}, which is computing it`), next.stderr);
          assert(!/slurm job \d+, log /.test(next.stderr), "nothing submitted: " + next.stderr);
          assertEquals(p.outcomes(next.stdout), { counter: "cached" });
          assertEquals((await logs(store)).length, 1);
          assertEquals((await records(store)).get("counter")!.job?.id, job);
        },
      );

      await t.step("two drivers on one store compute each key once", async () => {
        const p = await toy(TOY_FILES);
        const store = join(p.dir, "store");
        const args = ["run", "--store", store, "--executor", "slurm", "-j", "2"];
        const outs = await Promise.all([p.spawn(args, env).output(), p.spawn(args, env).output()]);
        assertEquals(outs.map((o) => o.code), [0, 0], outs.map((o) => decode(o.stderr)).join("\n"));
        const submitted = outs.flatMap((o) => decode(o.stderr).match(/slurm job \d+, log /g) ?? []);
        assertEquals(submitted.length, 3);
        assertEquals((await logs(store)).length, 3);
        const ran = outs.flatMap((o) =>
          Object.entries(p.outcomes(decode(o.stdout))).filter(([, v]) => v === "ran").map(([k]) =>
            k
          )
        );
        assertEquals(ran.sort(), ["a", "b", "c"]);
      });

      await t.step(
        "default pipeline, two-combination matrix: same keys and outputs as local",
        async () => {
          const dir = await Deno.makeTempDir({ prefix: "ganflow-slurm-matrix-" });
          try {
            const matrix = (store: string, ...extra: string[]) =>
              new Deno.Command(Deno.execPath(), {
                args: [
                  ...["run", "-A", MAIN, "matrix", "--store", store],
                  ...["--vary", "train-generator.seed=1,2", ...TINY, ...extra],
                ],
                env: { NO_COLOR: "1", ...env },
              }).output();
            const local = await matrix(join(dir, "local"));
            assertEquals(local.code, 0, decode(local.stderr).slice(-2000));
            const store = join(dir, "cluster");
            const r = await matrix(store, "--executor", "slurm", "-j", "2");
            assertEquals(r.code, 0, decode(r.stderr).slice(-2000));
            // Outputs a stage declares nondeterministic (the report's timings) are not compared.
            const { stages } = await import("../dag.ts");
            const skip = new Map(stages.map((s) => [s.name, new Set(s.nondeterministic ?? [])]));
            const comparable = async (store: string) => {
              const all = await allRecords(store);
              for (const [stage, digests] of Object.values(all)) {
                for (const o of Object.keys(digests)) {
                  if (skip.get(stage)?.has(o)) delete digests[o];
                }
              }
              return all;
            };
            const want = await comparable(join(dir, "local"));
            assertEquals(await comparable(store), want);
            // Stages the combinations share ran once: one job per distinct key.
            assertEquals((await logs(store)).length, Object.keys(want).length);
          } finally {
            await Deno.remove(dir, { recursive: true });
          }
        },
      );
    } finally {
      await cluster.stop();
      for (const t of toys) await t.cleanup();
    }
  },
});
