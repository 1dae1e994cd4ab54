/**
 * The compress feature through the real CLI at toy size: `sample --set sample.decoder=compressed`
 * pulls in `compress`, whose decoder file holds genuinely smaller tensors (counted from the file
 * against the teacher's), and `compress.source=conditional` compresses the edges -> image network
 * of `train-conditional`. Neither is part of the default target (see pipeline_e2e_test.ts).
 */
import { assert, assertEquals } from "../assert.ts";
import type { RunRecord } from "../../pipeline/stage.ts";
import { readAutoencoderFile } from "../../models/autoencoder_file.ts";
import { readDecoderFile } from "../../models/decoder_file.ts";
import { readFloatArray } from "../../data/zarr_arrays.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const TINY = Object.entries({
  "prepare.source": "procedural",
  "prepare.limit": 64,
  "prepare.resolution": 16,
  "train-autoencoder.steps": 4,
  "train-autoencoder.batch": 8,
  "train-autoencoder.holdout": 16,
  "train-generator.steps": 2,
  "train-generator.batch": 8,
  "train-generator.baseChannels": 16,
  "train-generator.sampleEvery": 2,
  "train-generator.checkpointEvery": 2,
  "sample.count": 8,
  "compress.condenseSteps": 3,
  "compress.distillSteps": 3,
  "compress.batch": 8,
  "compress.calibration": 8,
  "compress.latencyReps": 1,
  "compress.keepFraction": 0.5,
  "train-conditional.steps": 3,
  "train-conditional.batch": 8,
  "train-conditional.holdout": 16,
}).flatMap(([k, v]) => ["--set", `${k}=${v}`]);

async function cli(store: string, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args, "--store", store, ...TINY],
    env: { NO_COLOR: "1" },
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr).slice(-3000));
  const outcomes: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    const m = /^([a-z-]+)\s+(cached|ran|restored)\s/.exec(line);
    if (m) outcomes[m[1]] = m[2];
  }
  return outcomes;
}

async function head(store: string, stage: string): Promise<RunRecord> {
  const { key } = JSON.parse(await Deno.readTextFile(`${store}/heads/${stage}.json`));
  return JSON.parse(await Deno.readTextFile(`${store}/runs/${key}.json`));
}

const elements = (arrays: Record<string, { data: ArrayLike<number> }>, prefix = "dec.") =>
  Object.entries(arrays).filter(([k]) => k.startsWith(prefix)).reduce(
    (a, [, v]) => a + v.data.length,
    0,
  );

Deno.test({
  name: "compress via the CLI: sample decodes through the compressed decoder; conditional source",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const store = await Deno.makeTempDir({ prefix: "ganflow-compress-" });
    try {
      const first = await cli(store, "run", "sample", "--set", "sample.decoder=compressed");
      assertEquals(first, {
        prepare: "ran",
        "train-autoencoder": "ran",
        encode: "ran",
        "train-generator": "ran",
        compress: "ran",
        sample: "ran",
      });
      const teacher = await readAutoencoderFile(`${store}/out/train-autoencoder/autoencoder.gft`);
      const student = await readDecoderFile(`${store}/out/compress/decoder.gft`);
      const summary = JSON.parse(await Deno.readTextFile(`${store}/out/compress/compress.json`));
      // keepFraction 0.5 of the 16x16 decoder's 64+32+32+16+16 = 160 hidden channels.
      const channels = student.config.channels;
      assertEquals(channels.reduce((a, b) => a + b), 80);
      assertEquals(summary.after.channels, channels);
      // The file's tensors are smaller, and the reported count is what the file holds.
      assertEquals(elements(student.arrays), summary.after.params);
      assertEquals(elements(teacher.arrays), summary.before.params);
      assert(summary.after.params < summary.before.params / 2, JSON.stringify(summary.after));
      assertEquals(student.arrays["dec.in.w"].shape, [3, 3, 4, channels[0]]);
      const rec = await head(store, "compress");
      const lat = rec.metrics.latency as { after: { batch1: { imagesPerSecond: number } } };
      assert(lat.after.batch1.imagesPerSecond > 0);
      assert(Number.isFinite(rec.metrics.psnrLossDb as number));
      const samples = await readFloatArray(`${store}/out/sample/samples.zarr`, "images");
      assertEquals(samples.shape, [8, 16, 16, 3]);
      const trained = await cli(store, "run", "sample");
      assertEquals(trained.sample, "ran", "the default decoder is a different sample key");

      const cond = await cli(store, "run", "compress", "--set", "compress.source=conditional");
      assertEquals(cond, { prepare: "cached", "train-conditional": "ran", compress: "ran" });
      const cs = JSON.parse(await Deno.readTextFile(`${store}/out/compress/compress.json`));
      assertEquals(cs.source, "conditional");
      assertEquals(cs.after.channels.reduce((a: number, b: number) => a + b), 80);
    } finally {
      await Deno.remove(store, { recursive: true });
    }
  },
});
