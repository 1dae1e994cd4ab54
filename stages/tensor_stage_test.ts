import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { assertEquals } from "../tests/assert.ts";
import type { StageContext } from "../pipeline/stage.ts";
import { tensorStage } from "./tensor_stage.ts";

Deno.test("tensorStage keys on the backend and runs on the one the globals name", async () => {
  const seen: { backend?: string; current?: string } = {};
  const stage = tensorStage({
    name: "t",
    module: import.meta.url,
    params: z.object({}),
    outputs: {},
    run(ctx) {
      seen.backend = ctx.backend;
      seen.current = tf.getBackend();
      return Promise.resolve({ ok: 1 });
    },
  });
  assertEquals(stage.uses, ["backend"]);
  const logs: string[] = [];
  const ctx = {
    params: {},
    globals: { backend: "cpu" },
    log: (m: string) => logs.push(m),
  } as unknown as StageContext<Record<string, never>>;
  assertEquals(await stage.run(ctx), { ok: 1 });
  assertEquals(seen, { backend: "cpu", current: "cpu" });
  assertEquals(logs, ["backend: tfjs cpu (pure JS)"]);
});
