/**
 * A small real pipeline with no ML: word statistics of the project's own docs. It exercises the
 * engine end to end (external inputs, params, a directory output, downstream stages).
 */
import { z } from "zod";
import { join } from "node:path";
import { defineStage } from "../../pipeline/stage.ts";
import { countWords, topWords } from "./words.ts";

export const countStage = defineStage({
  name: "count-words",
  module: import.meta.url,
  params: z.object({ minLength: z.number().int().min(1).max(20).default(3) }),
  inputs: { readme: { path: "../../README.md" }, contributing: { path: "../../CONTRIBUTING.md" } },
  outputs: { counts: "counts" },
  async run(ctx) {
    await Deno.mkdir(ctx.outputs.counts, { recursive: true });
    let total = 0;
    for (const [name, path] of Object.entries(ctx.inputs)) {
      const counts = countWords(await Deno.readTextFile(path), ctx.params.minLength);
      total += Object.values(counts).reduce((a, b) => a + b, 0);
      await Deno.writeTextFile(join(ctx.outputs.counts, `${name}.json`), JSON.stringify(counts));
    }
    return { words: total };
  },
});

export const topStage = defineStage({
  name: "top-words",
  module: import.meta.url,
  params: z.object({ n: z.number().int().min(1).max(1000).default(10) }),
  inputs: { counts: "count-words.counts" },
  outputs: { top: "top.json" },
  async run(ctx) {
    const merged: Record<string, number> = {};
    for await (const e of Deno.readDir(ctx.inputs.counts)) {
      const c = JSON.parse(await Deno.readTextFile(join(ctx.inputs.counts, e.name)));
      for (const [w, n] of Object.entries(c)) merged[w] = (merged[w] ?? 0) + (n as number);
    }
    await Deno.writeTextFile(ctx.outputs.top, JSON.stringify(topWords(merged, ctx.params.n)));
  },
});

export const summaryStage = defineStage({
  name: "summary",
  module: import.meta.url,
  params: z.object({}),
  inputs: { top: "top-words.top" },
  outputs: { text: "summary.md" },
  async run(ctx) {
    const top = JSON.parse(await Deno.readTextFile(ctx.inputs.top)) as [string, number][];
    const lines = top.map(([w, n], i) => `${i + 1}. ${w} (${n})`);
    await Deno.writeTextFile(ctx.outputs.text, `# Most frequent words\n\n${lines.join("\n")}\n`);
  },
});

export const stages = [countStage, topStage, summaryStage];
