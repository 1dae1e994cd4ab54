/**
 * `deno task bench cluster`: what `--executor slurm` costs per stage on a single-node Slurm
 * cluster (the one SLURM_CONF names if it answers, else one started for the run): submission to
 * the job's process starting, the record's appearance to the driver noticing it, and the whole
 * DAG against `--executor local`. The peer is the same DAG through Snakemake's Slurm mode
 * (`snakemake --slurm`, Debian's 7.21), when installed. Stages do almost nothing, so what is
 * measured is the executor. `--runs=N` repeats each side (default 2) and prints min-max.
 */
import type { BenchRecorder } from "./results.ts";
import { join } from "node:path";
import { slurmUnavailable, startTestCluster } from "../pipeline/testing/slurm_cluster.ts";

/** A diamond and a tail: s0 -> s1, s0 -> s2, (s1, s2) -> s3 -> s4; critical path of 4. */
const STAGES = [
  { name: "s0", deps: [] },
  { name: "s1", deps: ["s0"] },
  { name: "s2", deps: ["s0"] },
  { name: "s3", deps: ["s1", "s2"] },
  { name: "s4", deps: ["s3"] },
];
const CRITICAL_PATH = 4;

function pipelineSource(stageTs: string, zod: string): string {
  const defs = STAGES.map((s) => {
    const inputs = Object.fromEntries(s.deps.map((d) => [d, `${d}.out`]));
    return `export const ${s.name} = defineStage({
  name: "${s.name}",
  module: import.meta.url,
  params: z.object({ run: z.number().default(0) }),
  inputs: ${JSON.stringify(inputs)},
  outputs: { out: "out.txt" },
  async run(ctx) {
    let text = "${s.name}";
    for (const p of Object.values(ctx.inputs)) text += " " + (await Deno.readTextFile(p));
    await Deno.writeTextFile(ctx.outputs.out, text);
  },
});`;
  });
  return `import { defineStage } from "${stageTs}";\nimport { z } from "${zod}";\n${
    defs.join("\n")
  }\nexport const stages = [${STAGES.map((s) => s.name).join(", ")}];\n`;
}

function snakefile(): string {
  const rule = (s: typeof STAGES[number]) =>
    `rule ${s.name}:\n` +
    (s.deps.length ? `    input: ${s.deps.map((d) => `"out/${d}.txt"`).join(", ")}\n` : "") +
    `    output: "out/${s.name}.txt"\n` +
    `    shell: "cat {input} /dev/null > {output}; echo ${s.name} >> {output}"\n`;
  return `rule all:\n    input: "out/s4.txt"\n\n` + STAGES.map(rule).join("\n");
}

async function timed(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ seconds: number; stderr: string }> {
  const t0 = performance.now();
  const out = await new Deno.Command(cmd, { args, ...opts, stdout: "piped", stderr: "piped" })
    .output();
  const seconds = (performance.now() - t0) / 1000;
  const stderr = new TextDecoder().decode(out.stderr);
  if (out.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}):\n${stderr.slice(-2000)}`);
  }
  return { seconds, stderr };
}

async function slurmAnswers(env: Record<string, string>): Promise<boolean> {
  try {
    const out = await new Deno.Command("sinfo", { args: ["-h", "-o", "%T"], env }).output();
    return out.code === 0 && /idle|mixed|allocated/.test(new TextDecoder().decode(out.stdout));
  } catch {
    return false;
  }
}

const range = (xs: number[]) =>
  xs.length > 1 ? `${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}` : xs[0].toFixed(2);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export async function benchCluster(args: string[], rec?: BenchRecorder): Promise<void> {
  const runs = Number(args.find((a) => a.startsWith("--runs="))?.slice(7) ?? 2);
  // Through a subprocess: Deno reads /proc only with --allow-all, which the bench task lacks.
  const sh = async (cmd: string) =>
    new TextDecoder().decode((await new Deno.Command("sh", { args: ["-c", cmd] }).output()).stdout)
      .trim();
  const cpu = (await sh("grep -m1 'model name' /proc/cpuinfo")).replace(/^model name\s*:\s*/, "");
  const load = async () => (await sh("cat /proc/loadavg")).split(" ").slice(0, 3);
  console.log(
    `CPU ${cpu} x ${navigator.hardwareConcurrency}; load before ${(await load()).join(" ")}`,
  );

  const conf = Deno.env.get("SLURM_CONF");
  let env: Record<string, string> = conf ? { SLURM_CONF: conf } : {};
  let stop = () => Promise.resolve();
  if (!(await slurmAnswers(env))) {
    const why = slurmUnavailable();
    if (why) {
      console.log(`no cluster: ${why}`);
      return;
    }
    const c = await startTestCluster();
    env = c.env;
    stop = c.stop;
    console.log("started a single-node cluster for this run");
  }
  const dir = await Deno.makeTempDir({ prefix: "ganflow-bench-cluster-" });
  try {
    await Deno.chmod(dir, 0o755);
    const stageTs = new URL("../pipeline/stage.ts", import.meta.url).href;
    const zod = new URL("../pipeline/testing/zod.ts", import.meta.url).href;
    await Deno.writeTextFile(join(dir, "deno.json"), "{}\n");
    await Deno.writeTextFile(join(dir, "pipeline.ts"), pipelineSource(stageTs, zod));
    const main = new URL("../main.ts", import.meta.url).pathname;
    // A fresh store per run (and a param that differs per run), so every stage computes.
    const ganflow = (i: number, ...extra: string[]) =>
      timed(Deno.execPath(), [
        ...["run", "-A", "--no-lock", main, "run", "--pipeline", join(dir, "pipeline.ts")],
        ...["--store", join(dir, `store-${extra.join("")}-${i}`), "-j", "4", ...extra],
        ...STAGES.map((s) => ["--set", `${s.name}.run=${i}`]).flat(),
      ], { env: { ...env, NO_COLOR: "1" } });

    const local: number[] = [];
    const slurm: number[] = [];
    const queued: number[] = [];
    const noticed: number[] = [];
    const ran: number[] = [];
    for (let i = 0; i < runs; i++) {
      local.push((await ganflow(i)).seconds);
      const r = await ganflow(i, "--executor", "slurm");
      slurm.push(r.seconds);
      for (const m of r.stderr.matchAll(/queued ([\d.]+)s, ran ([\d.]+)s, noticed ([\d.]+)s/g)) {
        queued.push(Number(m[1]));
        ran.push(Number(m[2]));
        noticed.push(Number(m[3]));
      }
    }
    const perStage = slurm.map((s, i) => (s - local[i]) / CRITICAL_PATH);
    console.log(
      `${STAGES.length} trivial stages, critical path ${CRITICAL_PATH}, -j 4, ${runs} run(s) each:`,
    );
    console.log(`ganflow --executor local   whole DAG ${range(local)} s`);
    console.log(`ganflow --executor slurm   whole DAG ${range(slurm)} s`);
    console.log(
      `  per job: submission -> start ${mean(queued).toFixed(2)} s (range ${range(queued)}), ` +
        `process start -> record ${mean(ran).toFixed(2)} s (Deno start-up + stage), ` +
        `record -> driver noticed ${mean(noticed).toFixed(2)} s (range ${range(noticed)})`,
    );
    console.log(
      `  overhead per stage on the critical path: ${range(perStage)} s (target < 3 s)`,
    );
    rec?.figure("cluster.local.s", "toy DAG, --executor local", mean(local), "s", local);
    rec?.figure("cluster.slurm.s", "toy DAG, --executor slurm", mean(slurm), "s", slurm);
    rec?.figure(
      "cluster.slurm.per_stage_overhead.s",
      "slurm overhead per stage",
      mean(perStage),
      "s",
      perStage,
    );
    rec?.figure(
      "cluster.slurm.queued.s",
      "submission to start, per job",
      mean(queued),
      "s",
      queued,
    );
    rec?.figure(
      "cluster.slurm.noticed.s",
      "record to driver noticing, per job",
      mean(noticed),
      "s",
      noticed,
    );

    const snakemake = "/usr/bin/snakemake";
    if (!(await Deno.stat(snakemake).then(() => true, () => false))) {
      console.log("snakemake not installed (apt-get install snakemake): no peer");
      return;
    }
    await Deno.writeTextFile(join(dir, "Snakefile"), snakefile());
    const sm: number[] = [];
    const smLocal: number[] = [];
    for (let i = 0; i < runs; i++) {
      await Deno.remove(join(dir, "out"), { recursive: true }).catch(() => {});
      smLocal.push((await timed(snakemake, ["-c4", "-q"], { cwd: dir })).seconds);
      await Deno.remove(join(dir, "out"), { recursive: true }).catch(() => {});
      sm.push(
        (await timed(snakemake, [
          ...["--slurm", "--jobs", "4", "-q"],
          // No account: it then guesses with sacct, fails, and goes on without (the test cluster
          // has no accounting); job states come from its scontrol fallback.
          ...["--default-resources", "slurm_partition=main"],
        ], { cwd: dir, env: { ...env, USER: Deno.env.get("USER") ?? (await sh("id -un")) } }))
          .seconds,
      );
    }
    const smPerStage = sm.map((s, i) => (s - smLocal[i]) / CRITICAL_PATH);
    console.log(`snakemake 7.21 local -c4   whole DAG ${range(smLocal)} s`);
    console.log(`snakemake 7.21 --slurm     whole DAG ${range(sm)} s`);
    rec?.figure(
      "cluster.snakemake.per_stage_overhead.s",
      "Snakemake --slurm overhead per stage",
      mean(smPerStage),
      "s",
      smPerStage,
    );
    rec?.figure(
      "cluster.snakemake_over_ganflow_overhead",
      "Snakemake's overhead / ganflow's",
      mean(smPerStage) / Math.max(mean(perStage), 1e-3),
      "x",
    );
    console.log(
      `  overhead per stage on the critical path: ${range(smPerStage)} s -> ganflow's is ${
        (mean(smPerStage) / Math.max(mean(perStage), 1e-3)).toFixed(1)
      }x smaller (target >= 5x)`,
    );
  } finally {
    console.log(`load after ${(await load()).join(" ")}`);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await stop();
  }
}
