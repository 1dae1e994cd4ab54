/**
 * train-generator's `selfCondition` end to end on a tiny pixel-space run: the training images are
 * clustered, the generator file carries the clusters' shares (what `sample` draws modes by), and
 * settings it cannot work with are refused by name before any training.
 */
import { assert, assertEquals } from "../assert.ts";
import { readTensorFile } from "../../nn/tensor_file.ts";
import { parseGeneratorMeta } from "../../models/trained_generator.ts";
import { runCli as main, tinyPixelRun } from "./cli.ts";

const TINY = tinyPixelRun({
  "train-generator.zModes": 3,
  "train-generator.selfCondition": true,
  "sample.count": 8,
});

Deno.test({
  name: "selfCondition: clusters the images, records their shares, samples; bad settings refused",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const store = await Deno.makeTempDir({ prefix: "ganflow-selfcond-" });
    try {
      const run = await main("run", "sample", "--store", store, ...TINY);
      assert(run.ok, run.text.slice(-3000));
      assert(run.text.includes("clustering the training images into 3 (k-means)"), run.text);
      const path = `${store}/out/train-generator/generator.gft`;
      const { config } = parseGeneratorMeta((await readTensorFile(path)).meta, path);
      assertEquals([config.zModes, config.conditionD], [3, true]);
      // Shares of 16 images: whole counts that add up to all of them, none empty.
      const counts = config.modeWeights!.map((w) => w * 16);
      assert(counts.every((c) => c >= 1 && Math.abs(c - Math.round(c)) < 1e-9), `${counts}`);
      assertEquals(Math.round(counts.reduce((a, b) => a + b)), 16);

      for (
        const [extra, why] of [
          [["--set", "train-generator.zModes=0"], "selfCondition: zModes 0"],
          [["--set", "train-generator.arch=progan"], `selfCondition: arch "progan"`],
          [["--set", "train-generator.schedule=one-stage"], 'selfCondition: schedule "one-stage"'],
        ] as const
      ) {
        const bad = await main("run", "train-generator", "--store", store, ...TINY, ...extra);
        assert(!bad.ok && bad.text.includes(why), `${extra}: ${bad.text.slice(-1500)}`);
      }
    } finally {
      await Deno.remove(store, { recursive: true });
    }
  },
});
