/**
 * `deno task bench pipeline [--set stage.param=value ...]`: the default pipeline from an empty
 * store, as a user runs it (the CLI in a child process), then once more with everything cached.
 * Records the wall time of the whole run and of each stage (from its run record), and the
 * evaluation's SWD and MS-SSIM next to the real-vs-real levels. `--set` flags pass through, so a
 * longer or different configuration is measured the same way.
 */
import { join } from "node:path";
import { FsStore } from "../pipeline/store.ts";
import type { BenchRecorder } from "./results.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

async function runCli(args: string[]): Promise<{ seconds: number; stdout: string }> {
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "run", ...args],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`the pipeline failed:\n${stdout.slice(-2000)}`);
  return { seconds: (performance.now() - t0) / 1000, stdout };
}

export async function benchPipeline(args: string[], rec?: BenchRecorder): Promise<void> {
  const sets = args.filter((a) => a.startsWith("--set=")).flatMap((a) => ["--set", a.slice(6)]);
  const store = await Deno.makeTempDir({ prefix: "ganflow-bench-pipeline-" });
  try {
    const first = await runCli(["--store", store, ...sets]);
    const cached = await runCli(["--store", store, ...sets]);
    const s = await FsStore.open(store);
    const records = (await s.listRecords()).sort((a, b) =>
      a.finishedAt.localeCompare(b.finishedAt)
    );
    console.log(
      `from an empty store: ${first.seconds.toFixed(1)} s; all cached: ${
        cached.seconds.toFixed(1)
      } s`,
    );
    rec?.figure("pipeline.total.s", "default pipeline from an empty store", first.seconds, "s");
    rec?.figure("pipeline.cached.s", "the same run again, all stages cached", cached.seconds, "s");
    for (const r of records) {
      console.log(`  ${r.stage.padEnd(18)} ${r.seconds.toFixed(1).padStart(7)} s`);
      rec?.figure(`pipeline.stage.${r.stage}.s`, `stage ${r.stage}`, r.seconds, "s");
    }
    const metrics = JSON.parse(
      await Deno.readTextFile(join(store, "out", "evaluate", "metrics.json")),
    );
    console.log(
      `SWD x1e3 ${metrics.swdAverage.toFixed(2)} (real vs real ${
        metrics.reals2.swdAverage.toFixed(2)
      }); MS-SSIM ${metrics.msSsim.toFixed(3)} (real ${metrics.reals2.msSsim.toFixed(3)})`,
    );
    rec?.figure("pipeline.swd", "SWD x1e3, samples vs real set A", metrics.swdAverage, "");
    rec?.figure("pipeline.reals2_swd", "SWD x1e3, real set B vs A", metrics.reals2.swdAverage, "");
    rec?.figure(
      "pipeline.swd_over_reals2",
      "SWD / real-vs-real SWD",
      metrics.swdAverage / metrics.reals2.swdAverage,
      "x",
    );
    rec?.figure("pipeline.msssim", "MS-SSIM of sample pairs", metrics.msSsim, "");
    rec?.figure("pipeline.reals2_msssim", "MS-SSIM of real pairs", metrics.reals2.msSsim, "");
    if (metrics.curve) {
      const pts = metrics.curve.points as { step: number; swd: number }[];
      const last = pts[pts.length - 1], mid = pts[Math.floor(pts.length / 2)];
      console.log(
        `training curve (${metrics.curve.count} images): ${
          pts.map((p) => `${p.step}:${p.swd.toFixed(1)}`).join(" ")
        }`,
      );
      rec?.figure(
        "pipeline.curve.last_over_mid",
        `curve SWD at step ${last.step} / at step ${mid.step}`,
        last.swd / mid.swd,
        "x",
      );
    }
  } finally {
    await Deno.remove(store, { recursive: true });
  }
}
