/**
 * The job side of the Slurm executor: `run-key <stage> --key K --claim T` computes exactly one
 * stage in the shared store. It rebuilds the key from the store's upstream records (refusing to
 * run if code, inputs or parameters changed since submission), keeps the driver's claim alive
 * while it works, and on SIGUSR2 (sent by Slurm before the time limit, `--signal`) stops at the
 * stage's next checkpoint and requeues itself, to resume from that checkpoint. (Not SIGUSR1:
 * Deno, like Node, opens a debugger port on SIGUSR1.)
 */
import { hostname } from "node:os";
import { join } from "node:path";
import { removeIfExists, writeFileAtomic } from "./fs_util.ts";
import { PipelineError } from "./graph.ts";
import { keyOf } from "./key.ts";
import type { Engine } from "./runner.ts";
import { Preempted } from "./stage_run.ts";

export async function runKeyJob(
  engine: Engine,
  stage: string,
  key: string,
  token: string,
): Promise<number> {
  const say = (m: string) => engine.reporter.line(`ganflow run-key: ${m}`);
  const job = Deno.env.get("SLURM_JOB_ID");
  const startedAt = new Date(performance.timeOrigin).toISOString();
  say(
    `stage ${stage}, key ${key.slice(0, 16)}, ${
      job ? `slurm job ${job}` : "no slurm job"
    }, host ${hostname()}, restart ${Deno.env.get("SLURM_RESTART_COUNT") ?? 0}`,
  );
  // This run is the requeued job starting again: its requeue is over.
  if (job) await removeIfExists(requeueMarker(engine.store.root, job));
  const node = engine.node(stage);
  const upstream = await engine.upstreamRecords(stage);
  const ing = (await engine.ingredients(stage, upstream))!;
  const here = await keyOf(ing);
  if (here !== key) {
    throw new PipelineError(
      `stage "${stage}" has key ${here.slice(0, 8)} here, not the submitted ${
        key.slice(0, 8)
      }: its code, inputs or parameters changed since submission`,
    );
  }
  if (await engine.usableRecord(key)) {
    say("already computed; nothing to do");
    return 0;
  }
  const claim = await engine.claims.adopt(key, token);
  if (!claim) {
    const now = await engine.claims.inspect(key);
    say(
      `the claim was taken over${
        now ? ` by pid ${now.owner.pid} on ${now.owner.host}` : ""
      } (the driver that submitted this job is gone); not running`,
    );
    return 0;
  }
  let stop = false;
  const onSignal = () => {
    stop = true;
    say("SIGUSR2 (time limit near): stopping at the next checkpoint, then requeueing");
  };
  Deno.addSignalListener("SIGUSR2", onSignal);
  try {
    await engine.produce({
      node,
      key,
      ingredients: ing,
      upstream,
      claim,
      resources: engine.resourcesOf(stage),
      reporter: engine.reporter,
      jobArgs: [],
    }, {
      stopAfterCheckpoint: () => stop,
      job: {
        executor: "slurm",
        id: job ?? "none",
        host: hostname(),
        startedAt,
        restarts: Number(Deno.env.get("SLURM_RESTART_COUNT") ?? 0),
      },
    });
    await engine.store.flush();
    await claim.release();
    say("done");
    return 0;
  } catch (e) {
    if (!(e instanceof Preempted)) {
      await claim.release();
      throw e;
    }
    // Keep the claim: the driver heartbeats it while the job waits to be run again.
    await claim.release(false);
    say(`${e.message}; requeueing job ${job}`);
    if (!job) return 1;
    // Slurm may show the job FAILED or CANCELLED for a moment while it requeues it: the marker
    // tells the driver that this is a requeue, not a failure.
    await writeFileAtomic(requeueMarker(engine.store.root, job), new Date().toISOString());
    const out = await new Deno.Command("scontrol", { args: ["requeue", job] }).output();
    if (out.code !== 0) {
      say(`scontrol requeue failed: ${new TextDecoder().decode(out.stderr).trim()}`);
      return 1;
    }
    return 0;
  } finally {
    Deno.removeSignalListener("SIGUSR2", onSignal);
  }
}

/** Written by a job that requeues itself; removed when it starts again. */
export function requeueMarker(storeRoot: string, job: string): string {
  return join(storeRoot, "jobs", `requeue-${job}`);
}
