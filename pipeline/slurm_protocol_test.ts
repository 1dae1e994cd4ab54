/**
 * The Slurm executor's protocol against stand-in `sbatch` and `squeue` scripts (no cluster
 * needed): one batched squeue call for every job in flight, completion from the record read by
 * path, failure states reported with stage, job id and log tail, and a job gone from the queue
 * without a record failed only after the grace period.
 */
import { assert, assertEquals } from "../tests/assert.ts";
import { join } from "node:path";
import { z } from "zod";
import { buildGraph } from "./graph.ts";
import { defineStage, type RunRecord } from "./stage.ts";
import { FsStore } from "./store.ts";
import { Claims } from "./claim.ts";
import { SlurmExecutor } from "./slurm.ts";
import { DEFAULT_SLURM } from "./resources.ts";
import type { StageTask } from "./executor.ts";

const quiet = { line: () => {}, transient: () => {} };

async function setup(squeue: string) {
  const dir = await Deno.makeTempDir({ prefix: "ganflow-slurm-protocol-" });
  const bin = join(dir, "bin");
  await Deno.mkdir(bin);
  // sbatch: hands out ids 1, 2, 3, ... and logs its arguments.
  await Deno.writeTextFile(
    join(bin, "sbatch"),
    `#!/bin/sh\nexec flock ${dir}/lock sh -c 'echo "$*" >> ${dir}/sbatch.args; n=$(( $(cat ${dir}/n 2>/dev/null || echo 0) + 1 )); echo $n > ${dir}/n; echo "$n;cluster"' sbatch "$@"\n`,
  );
  await Deno.writeTextFile(
    join(bin, "squeue"),
    `#!/bin/sh\necho "$@" >> ${dir}/squeue.args\n${squeue}\n`,
  );
  await Deno.writeTextFile(join(bin, "scancel"), `#!/bin/sh\nexit 0\n`);
  for (const f of ["sbatch", "squeue", "scancel"]) await Deno.chmod(join(bin, f), 0o755);
  const store = await FsStore.open(join(dir, "store"));
  const stage = (name: string) =>
    defineStage({
      name,
      module: import.meta.url,
      params: z.object({}),
      outputs: { out: "o" },
      resources: { cpus: 2, time: "10", checkpointed: name === "t" },
      run: async () => {},
    });
  const graph = buildGraph([stage("s1"), stage("s2"), stage("s3"), stage("t")], { baseDir: dir });
  const claims = new Claims(store.root);
  const executor = new SlurmExecutor(
    store,
    { prefix: ["deno", "run", "-A", "main.ts"], cwd: dir },
    { ...DEFAULT_SLURM, pollSeconds: 0.2, graceSeconds: 1.5 },
    { PATH: `${bin}:${Deno.env.get("PATH")}` },
  );
  const task = async (name: string, key: string): Promise<StageTask> => {
    const c = await claims.tryClaim(key);
    assert("claim" in c);
    return {
      node: graph.nodes.get(name)!,
      key,
      ingredients: { name, code: {}, deps: {}, params: {}, inputs: {}, globals: {} },
      upstream: new Map(),
      claim: c.claim,
      resources: graph.nodes.get(name)!.def.resources!,
      reporter: quiet,
      jobArgs: ["--store", store.root],
    };
  };
  const record = (stage: string, key: string): RunRecord => ({
    stage,
    key,
    ingredients: { name: stage, code: {}, deps: {}, params: {}, inputs: {}, globals: {} },
    outputs: {},
    metrics: {},
    seconds: 0,
    finishedAt: new Date().toISOString(),
    globals: {},
    params: {},
  });
  const read = (f: string) => Deno.readTextFile(join(dir, f)).catch(() => "");
  return {
    dir,
    store,
    executor,
    task,
    record,
    read,
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("slurm protocol: one squeue call for all jobs; records end the wait; flags from resources", async () => {
  const s = await setup(`printf '1 RUNNING\\n2 PENDING\\n3 RUNNING\\n'`);
  try {
    const keys = ["k1", "k2", "k3"];
    const tasks = await Promise.all(["s1", "s2", "s3"].map((n, i) => s.task(n, keys[i])));
    const runs = Promise.all(tasks.map((t) => s.executor.run(t)));
    // Let a few polls pass, then the jobs "finish": their records appear in the store.
    while ((await s.read("squeue.args")).split("\n").length < 3) await sleep(100);
    for (const [i, k] of keys.entries()) await s.store.putRecord(s.record(`s${i + 1}`, k));
    const records = await runs;
    assertEquals(records.map((r) => r.key), keys);
    const calls = (await s.read("squeue.args")).trim().split("\n");
    assert(calls.length >= 2);
    for (const c of calls) {
      assertEquals(c, "--noheader --states=all --format=%i %T --jobs=1,2,3");
    }
    const sbatch = (await s.read("sbatch.args")).trim().split("\n");
    assertEquals(sbatch.length, 3);
    const s1 = sbatch.find((l) => l.includes("--job-name=gf-s1 "))!;
    assert(s1.includes("--cpus-per-task=2 --time=10"), s1);
    assert(!s1.includes("--requeue"), "s1 is not checkpointed");
    assert(s1.includes(`--output=${s.store.root}/logs/s1-k1-%j.log`), s1);
    // The job script runs exactly that stage by key, under the driver's claim.
    const script = await Deno.readTextFile(join(s.store.root, "jobs", "s1-k1.sh"));
    assert(/run-key s1 --key k1 --claim [\w-]+ --store /.test(script), script);
    assertEquals(s.executor.submitted, 3);
  } finally {
    await s.executor.close();
    await s.cleanup();
  }
});

Deno.test("slurm protocol: a failure state is reported with stage, job id and log tail", async () => {
  const s = await setup(`echo "1 OUT_OF_MEMORY"`);
  try {
    await Deno.mkdir(join(s.store.root, "logs"), { recursive: true });
    await Deno.writeTextFile(
      join(s.store.root, "logs", "s1-k1-1.log"),
      Array.from({ length: 30 }, (_, i) => `line ${i}`).join("\n") + "\noom-kill event\n",
    );
    const e = await s.executor.run(await s.task("s1", "k1")).then(() => null, (e: Error) => e);
    assert(e !== null);
    const log = join(s.store.root, "logs", "s1-k1-1.log");
    assert(e.message.startsWith(`stage "s1": slurm job 1 OUT_OF_MEMORY; log ${log}:`), e.message);
    assert(e.message.endsWith("  | oom-kill event"), e.message);
    assert(!e.message.includes("line 10\n"), "only the last 20 lines: " + e.message);
  } finally {
    await s.executor.close();
    await s.cleanup();
  }
});

Deno.test("slurm protocol: a job gone from the queue fails only after the grace period", async () => {
  // squeue knows no job: as after MinJobAge, when every id is purged and squeue refuses them.
  const s = await setup(`echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1`);
  try {
    const t0 = performance.now();
    const e = await s.executor.run(await s.task("s1", "k1")).then(() => null, (e: Error) => e);
    assert(e !== null);
    assert(
      e.message.includes(
        "slurm job 1 left the queue (last seen never) without writing a run record within 1.5s",
      ),
      e.message,
    );
    assert(e.message.includes("(no log: the job never started)"), e.message);
    assert(performance.now() - t0 >= 1500, "not before the grace period");
    // The same, but the record arrives late (a shared filesystem's attribute cache): success.
    const late = s.executor.run(await s.task("s2", "k2"));
    await sleep(700);
    await s.store.putRecord(s.record("s2", "k2"));
    assertEquals((await late).key, "k2");
  } finally {
    await s.executor.close();
    await s.cleanup();
  }
});

Deno.test("slurm protocol: a checkpointed job requeueing itself is not a failure", async () => {
  // The job shows FAILED while Slurm requeues it; the job's marker says it is a requeue.
  const s = await setup(`cat ${"$"}(dirname $0)/../state 2>/dev/null || echo "1 RUNNING"`);
  try {
    const run = s.executor.run(await s.task("t", "k1"));
    await Deno.mkdir(join(s.store.root, "jobs"), { recursive: true });
    await Deno.writeTextFile(join(s.store.root, "jobs", "requeue-1"), "now");
    await Deno.writeTextFile(join(s.dir, "state"), "1 FAILED\n");
    await sleep(800);
    await Deno.writeTextFile(join(s.dir, "state"), "1 PENDING\n");
    await sleep(1200); // beyond the grace period, but the job is back in the queue
    await Deno.writeTextFile(join(s.dir, "state"), "1 RUNNING\n");
    await s.store.putRecord(s.record("t", "k1"));
    assertEquals((await run).key, "k1");
    const sbatch = await s.read("sbatch.args");
    assert(sbatch.includes("--requeue --signal=B:USR2@300"), sbatch);
  } finally {
    await s.executor.close();
    await s.cleanup();
  }
});
