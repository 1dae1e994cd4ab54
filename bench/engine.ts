/**
 * `deno task bench engine`: a generated pipeline of 50 stages over generated input files
 * (default 1 GiB in all): first run, a fully cached re-run, and a re-run after touching every
 * input (new mtimes, same bytes). Each run is the real CLI in a subprocess; "beyond start-up"
 * subtracts the time Deno needs to start and load the CLI without doing anything (`--help`).
 * When Snakemake is installed, the same DAG shape runs under it too. Repeated measurements
 * (start-up, and the no-op re-runs of both tools: `--runs=N`, default 3) report the fastest and
 * the min-max spread, each tool timed the same number of times.
 */
import { join } from "node:path";
import { numberFlag } from "./flags.ts";

const STAGES = 50;

function stageSource(i: number): string {
  const input = i % 2 === 0
    ? `{ data: { path: "inputs/f${i}.bin" } }`
    : `{ data: { path: "inputs/f${i}.bin" }, prev: "s${i - 1}.out" }`;
  return `export const s${i} = defineStage({
  name: "s${i}",
  module: import.meta.url,
  params: z.object({ n: z.number().default(${i}) }),
  inputs: ${input},
  outputs: { out: "out.txt" },
  async run(ctx) {
    const st = await Deno.stat(ctx.inputs.data);
    await Deno.writeTextFile(ctx.outputs.out, String(st.size + ctx.params.n));
  },
});
`;
}

async function timeCmd(cmd: string, args: string[], cwd?: string): Promise<number> {
  const t0 = performance.now();
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "null", stderr: "piped" }).output();
  if (out.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr).slice(-500)}`,
    );
  }
  return (performance.now() - t0) / 1000;
}

/** Seconds of `runs` sequential runs of `f`: the fastest, and the spread. */
async function repeat(
  runs: number,
  f: () => Promise<number>,
): Promise<{ min: number; max: number }> {
  const t: number[] = [];
  for (let i = 0; i < runs; i++) t.push(await f());
  return { min: Math.min(...t), max: Math.max(...t) };
}

const spread = (r: { min: number; max: number }, runs: number) =>
  `${r.min.toFixed(2)} s  (min of ${runs}, spread ${r.min.toFixed(2)}-${r.max.toFixed(2)} s)`;

export async function benchEngine(args: string[]): Promise<void> {
  const mb = numberFlag(args, "mb", 1024);
  const runs = numberFlag(args, "runs", 3);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a whole number >= 1`);
  const dir = await Deno.makeTempDir({ prefix: "ganflow-bench-" });
  try {
    await Deno.mkdir(join(dir, "inputs"));
    const per = Math.ceil((mb * 2 ** 20) / STAGES);
    const chunk = new Uint8Array(Math.min(per, 1 << 22));
    for (let i = 0; i < STAGES; i++) {
      const f = await Deno.open(join(dir, "inputs", `f${i}.bin`), { write: true, create: true });
      for (let w = 0; w < per; w += chunk.length) {
        crypto.getRandomValues(chunk.subarray(0, 65536));
        chunk.copyWithin(65536, 0, chunk.length - 65536);
        await f.write(chunk.subarray(0, Math.min(chunk.length, per - w)));
      }
      f.close();
    }
    const stageTs = new URL("../pipeline/stage.ts", import.meta.url).href;
    const zod = new URL("../pipeline/testing/zod.ts", import.meta.url).href;
    await Deno.writeTextFile(join(dir, "deno.json"), "{}\n");
    await Deno.writeTextFile(
      join(dir, "pipeline.ts"),
      `import { defineStage } from "${stageTs}";\nimport { z } from "${zod}";\n` +
        Array.from({ length: STAGES }, (_, i) => stageSource(i)).join("\n") +
        `export const stages = [${
          Array.from({ length: STAGES }, (_, i) => `s${i}`).join(", ")
        }];\n`,
    );
    const main = new URL("../main.ts", import.meta.url).pathname;
    const cli = (...a: string[]) =>
      timeCmd(Deno.execPath(), ["run", "-A", main, ...a, "--pipeline", join(dir, "pipeline.ts")]);
    const startup = (await repeat(runs, () => cli("--help"))).min;
    const first = await cli("run");
    const cachedRuns = await repeat(runs, () => cli("run"));
    const cached = cachedRuns.min;
    const now = new Date();
    for (let i = 0; i < STAGES; i++) await Deno.utime(join(dir, "inputs", `f${i}.bin`), now, now);
    const touched = await cli("run");
    const gb = (per * STAGES) / 1e9;
    console.log(`${STAGES} stages over ${(gb * 1000).toFixed(0)} MB of inputs`);
    console.log(`deno + CLI start-up      ${startup.toFixed(2)} s  (min of ${runs})`);
    console.log(
      `first run                ${first.toFixed(2)} s  (hashing ${
        (gb / Math.max(first - startup, 1e-3)).toFixed(2)
      } GB/s incl. running the stages)`,
    );
    console.log(
      `fully cached re-run      ${spread(cachedRuns, runs)}  (${
        (cached - startup).toFixed(3)
      } s beyond start-up; target < 0.3)`,
    );
    console.log(
      `after touching inputs    ${touched.toFixed(2)} s  (re-hash of ${
        (gb * 1000).toFixed(0)
      } MB: ${(gb / Math.max(touched - startup, 1e-3)).toFixed(2)} GB/s)`,
    );
    const snakemake = "/usr/bin/snakemake";
    if (await Deno.stat(snakemake).then(() => true, () => false)) {
      const rules = Array.from(
        { length: STAGES },
        (_, i) =>
          `rule s${i}:\n    input: "inputs/f${i}.bin"${
            i % 2 ? `, "out/s${i - 1}.txt"` : ""
          }\n    output: "out/s${i}.txt"\n    shell: "stat -c %s {input[0]} > {output}"\n`,
      );
      await Deno.writeTextFile(
        join(dir, "Snakefile"),
        `rule all:\n    input: ${
          Array.from({ length: STAGES }, (_, i) => `"out/s${i}.txt"`).join(", ")
        }\n\n` + rules.join("\n"),
      );
      const sm = (...a: string[]) => timeCmd(snakemake, ["-c1", "-q", ...a], dir);
      const smFirst = await sm();
      const smNoop = await repeat(runs, sm);
      console.log(
        `snakemake first run      ${smFirst.toFixed(2)} s  (it checks mtimes, hashes nothing)`,
      );
      console.log(
        `snakemake no-op re-run   ${spread(smNoop, runs)}  -> ganflow cached re-run is ${
          (smNoop.min / cached).toFixed(1)
        }x faster (fastest vs fastest)`,
      );
    } else {
      console.log("snakemake not installed (apt-get install snakemake): no comparison");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
