/** Source text of the toy pipeline used by the engine tests. */
export const TOY_FILES: Record<string, string> = {
  "helper.ts": `export function shout(s: string): string {
  return s.toUpperCase();
}
`,
  "unrelated.ts": `export const nothing = 1;
`,
  "data/input.txt": "hello world\n",
  "stage_a.ts": `import { defineStage } from "$STAGE";
import { z } from "$ZOD";
import { shout } from "./helper.ts";

export const a = defineStage({
  name: "a",
  module: import.meta.url,
  params: z.object({ suffix: z.string().default("!"), repeat: z.number().int().min(1).max(5).default(1) }),
  inputs: { text: { path: "data/input.txt" } },
  outputs: { out: "a.txt" },
  async run(ctx) {
    const text = await Deno.readTextFile(ctx.inputs.text);
    await Deno.writeTextFile(ctx.outputs.out, shout(text.trim()).repeat(ctx.params.repeat) + ctx.params.suffix);
  },
});
`,
  "stage_b.ts": `import { defineStage } from "$STAGE";
import { z } from "$ZOD";

export const b = defineStage({
  name: "b",
  module: import.meta.url,
  params: z.object({ times: z.number().int().min(1).default(2) }),
  inputs: { a: "a.out" },
  outputs: { dir: "tree" },
  async run(ctx) {
    const a = await Deno.readTextFile(ctx.inputs.a);
    await Deno.mkdir(ctx.outputs.dir + "/sub", { recursive: true });
    await Deno.writeTextFile(ctx.outputs.dir + "/x.txt", a.repeat(ctx.params.times));
    await Deno.writeTextFile(ctx.outputs.dir + "/sub/len.txt", String(a.length));
  },
});
`,
  "stage_c.ts": `import { defineStage } from "$STAGE";
import { z } from "$ZOD";

export const c = defineStage({
  name: "c",
  module: import.meta.url,
  params: z.object({}),
  inputs: { a: "a.out" },
  outputs: { out: "c.txt" },
  async run(ctx) {
    await Deno.writeTextFile(ctx.outputs.out, (await Deno.readTextFile(ctx.inputs.a)).length + "\\n");
  },
});
`,
  "pipeline.ts": `import { a } from "./stage_a.ts";
import { b } from "./stage_b.ts";
import { c } from "./stage_c.ts";
export const stages = [a, b, c];
`,
};

/**
 * A training-like stage: counts to `steps`, checkpointing every step (after `delayMs`). Its output
 * holds only the total, so a resumed run's output must equal an uninterrupted run's; where it
 * resumed goes to the metrics. Declared checkpointed, so Slurm submits it with --requeue. The
 * module is a pipeline of this one stage too.
 */
export const COUNTER_STAGE = `import { defineStage } from "$STAGE";
import { z } from "$ZOD";
import { join } from "node:path";

export const counter = defineStage({
  name: "counter",
  module: import.meta.url,
  params: z.object({ steps: z.number().int().default(8), delayMs: z.number().default(0) }),
  outputs: { out: "count.json" },
  resources: { checkpointed: true, time: "10:00" },
  async run(ctx) {
    const saved = await ctx.checkpoint.load();
    let total = 0;
    const start = saved ? saved.step : 0;
    if (saved) total = JSON.parse(await Deno.readTextFile(join(saved.dir, "state.json"))).total;
    for (let step = start; step < ctx.params.steps; step++) {
      total += step;
      await new Promise((r) => setTimeout(r, ctx.params.delayMs));
      await ctx.checkpoint.save(step + 1, (dir) => Deno.writeTextFile(join(dir, "state.json"), JSON.stringify({ total })));
      ctx.progress(step + 1, ctx.params.steps);
    }
    await Deno.writeTextFile(ctx.outputs.out, JSON.stringify({ total }));
    return { resumedFrom: start };
  },
});
export const stages = [counter];
`;
