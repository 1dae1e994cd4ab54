/**
 * The one way to declare a stage that computes with tensors: `tensorStage` adds the `backend`
 * global to the stage's key and starts that backend before `run`, so no stage can compute on a
 * backend its key does not record (and none can forget to start it).
 */
import type { z } from "zod";
import { type BackendName, initBackend } from "../backend/mod.ts";
import { defineStage, type StageContext, type StageDef } from "../pipeline/stage.ts";

/** A stage's context once its backend is running: `backend` is the backend's name. */
export interface TensorStageContext<P> extends StageContext<P> {
  backend: string;
}

/** A stage definition without `uses` (always the backend) and whose `run` gets the backend. */
export interface TensorStageDef<S extends z.ZodType> extends Omit<StageDef<S>, "uses" | "run"> {
  run(ctx: TensorStageContext<z.infer<S>>): Promise<void | Record<string, unknown>>;
}

export function tensorStage<S extends z.ZodType>(def: TensorStageDef<S>): StageDef<S> {
  return defineStage({
    ...def,
    uses: ["backend"],
    async run(ctx) {
      const info = await initBackend((ctx.globals.backend ?? "auto") as BackendName);
      ctx.log(`backend: ${info.detail}`);
      return await def.run({ ...ctx, backend: info.name });
    },
  });
}
