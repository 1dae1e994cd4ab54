/** Glue shared by the GAN stages: backend start-up, checkpoint files, model files, grids. */
import * as tf from "@tensorflow/tfjs";
import { basename, join } from "node:path";
import { cp } from "node:fs/promises";
import { exists } from "../pipeline/fs_util.ts";
import { type BackendName, initBackend } from "../backend/mod.ts";
import type { StageContext } from "../pipeline/stage.ts";
import {
  type CheckpointHooks,
  decodeState,
  encodeState,
  type TrainState,
} from "../train/checkpoint_state.ts";
import { decodeTensorFile, encodeTensorFile, type NamedArray } from "../nn/tensor_file.ts";
import { encodePng, imageGrid } from "../data/image_io.ts";

export async function startBackend(ctx: StageContext<unknown>): Promise<string> {
  const info = await initBackend((ctx.globals.backend ?? "auto") as BackendName);
  ctx.log(`backend: ${info.detail}`);
  return info.name;
}

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

export async function writeModel(
  path: string,
  arrays: Record<string, NamedArray>,
  meta: Record<string, unknown>,
): Promise<void> {
  await Deno.writeFile(path, encodeTensorFile({ arrays, meta }));
}

export async function readModel(path: string) {
  return decodeTensorFile(await Deno.readFile(path));
}

/** A PNG grid of NHWC [-1,1] images, upscaled so small samples are visible. */
export async function gridPng(
  images: tf.Tensor4D | Float32Array,
  shape?: [number, number, number, number],
  cols = 8,
): Promise<Uint8Array> {
  const [n, h, w, c] = images instanceof Float32Array ? shape! : images.shape;
  const data = images instanceof Float32Array ? images : (await images.data() as Float32Array);
  const g = imageGrid(data, n, h, w, c, Math.min(cols, n));
  return await encodePng(g.pixels, g.width, g.height, 3, h <= 64 ? 3 : 1);
}
