/** Training checkpoints of the GAN stages in the engine's atomic, key-bound checkpoint directory. */
import { basename, join } from "node:path";
import { cp } from "node:fs/promises";
import { exists } from "../pipeline/fs_util.ts";
import type { StageContext } from "../pipeline/stage.ts";
import {
  type CheckpointHooks,
  decodeState,
  encodeState,
  type TrainState,
} from "../train/checkpoint_state.ts";

/**
 * Checkpoint hooks backed by the engine's atomic, key-bound checkpoint directory. `carry` lists
 * output directories written during training (progress grids, snapshots): each checkpoint
 * holds a copy, restored on resume, so a resumed run's outputs equal an uninterrupted run's.
 */
export async function checkpointHooks(
  ctx: StageContext<unknown>,
  every: number,
  carry: string[] = [],
): Promise<CheckpointHooks> {
  const saved = await ctx.checkpoint.load();
  let resume: TrainState | null = null;
  if (saved) {
    resume = decodeState(await Deno.readFile(join(saved.dir, "state.gft")));
    for (const dir of carry) {
      const copy = join(saved.dir, "outputs", basename(dir));
      if (await exists(copy)) await cp(copy, dir, { recursive: true });
    }
    ctx.log(`resuming from the checkpoint at step ${saved.step}`);
  }
  return {
    every,
    resume,
    save: (step, state) =>
      ctx.checkpoint.save(step, async (dir) => {
        await Deno.writeFile(join(dir, "state.gft"), encodeState(state));
        for (const d of carry) await cp(d, join(dir, "outputs", basename(d)), { recursive: true });
      }),
  };
}
