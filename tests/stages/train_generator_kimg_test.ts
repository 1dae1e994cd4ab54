/**
 * train-generator's run record counts the real images shown (kimg) step by step: with
 * progressive growing's per-resolution batches it is not steps x batch.
 */
import { assertAlmostEquals, assertEquals } from "../assert.ts";
import type { RunRecord } from "../../pipeline/stage.ts";
import { runCli, tinyPixelRun } from "./cli.ts";

const TINY = tinyPixelRun({
  "prepare.limit": 32,
  "train-generator.steps": 6,
  "train-generator.batch": 8,
  "train-generator.baseChannels": 16,
  "train-generator.sampleEvery": 6,
  "train-generator.checkpointEvery": 6,
});

async function trainGenerator(store: string, ...sets: string[]): Promise<RunRecord> {
  const out = await runCli("run", "train-generator", "--store", store, ...TINY, ...sets);
  assertEquals(out.ok, true, out.stderr.slice(-3000));
  const { key } = JSON.parse(await Deno.readTextFile(`${store}/heads/train-generator.json`));
  return JSON.parse(await Deno.readTextFile(`${store}/runs/${key}.json`));
}

Deno.test({
  name: "train-generator records kimg as the sum of each step's batch (growth varies it)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const store = await Deno.makeTempDir({ prefix: "ganflow-kimg-" });
    try {
      const growth = {
        start: 4,
        fadeKimg: 0.016,
        stableKimg: 0.008,
        batchByResolution: { "4": 4, "16": 4 },
      };
      const grown = await trainGenerator(
        store,
        ...["--set", "train-generator.arch=progan"],
        ...["--set", `train-generator.growth=${JSON.stringify(growth)}`],
      );
      // Hand-counted from the schedule: 4px stable for 8 images at batch 4 = steps 0-1; 8px (no
      // entry: batch 8) fades over 16 images = steps 2-3 and is stable for 8 = step 4; 16px
      // (batch 4) fades from step 5. 4 + 4 + 8 + 8 + 8 + 4 = 36 images (steps x batch: 48).
      assertAlmostEquals(grown.metrics.kimg as number, 0.036, 1e-12);
      // A resolution the list leaves out trains at `batch`, even below the largest listed one:
      // batch 4, {"8": 8}: 4px 2 steps x 4; 8px fades 2 steps x 8, stable 1 x 8; 16px 1 x 4.
      const larger = await trainGenerator(
        store,
        ...["--set", "train-generator.arch=progan", "--set", "train-generator.batch=4"],
        ...[
          "--set",
          `train-generator.growth=${JSON.stringify({ ...growth, batchByResolution: { "8": 8 } })}`,
        ],
      );
      assertAlmostEquals(larger.metrics.kimg as number, 0.036, 1e-12);
      // Without growth every step shows `batch` images: 6 x 8.
      const plain = await trainGenerator(store);
      assertAlmostEquals(plain.metrics.kimg as number, 0.048, 1e-12);
    } finally {
      await Deno.remove(store, { recursive: true });
    }
  },
});
