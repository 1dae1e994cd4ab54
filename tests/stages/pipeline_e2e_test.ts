/**
 * The GAN pipeline end to end at toy size through the real CLI: same seed twice -> the same keys
 * and output digests; a generator parameter re-runs only train-generator and what follows; pixel
 * mode shares the prepared dataset and the real-image statistics and does not need the autoencoder.
 */
import { assert, assertEquals } from "../assert.ts";
import type { RunRecord } from "../../pipeline/stage.ts";
import { hasChromium, launchChromium } from "../browser.ts";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../backend/mod.ts";
import { readFloatArray } from "../../data/zarr_arrays.ts";
import { readAutoencoderFile } from "../../models/autoencoder_file.ts";
import { decode, encode } from "../../models/autoencoder.ts";
import { Params } from "../../nn/params.ts";
import { Rng } from "../../nn/rng.ts";
import { slicedWassersteinDistance } from "../../metrics/swd.ts";
import { realSetIndices } from "../../stages/real_stats.ts";

/** What a person sees in the pipeline's own report, in a real headless browser. */
async function inspectReport(path: string) {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`file://${path}`);
    return await page.evaluate(`({
      images: [...document.querySelectorAll("figure img")].map((i) => i.complete ? i.naturalWidth : -1),
      metrics: [...document.querySelectorAll("#metrics tbody tr td:first-child")].map((td) => td.textContent),
      charts: document.querySelectorAll("svg").length,
    })`) as { images: number[]; metrics: string[]; charts: number };
  } finally {
    await browser.close();
  }
}

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const TINY = [
  "--set",
  "prepare.source=procedural",
  "--set",
  "prepare.limit=96",
  "--set",
  "prepare.resolution=16",
  "--set",
  "train-autoencoder.steps=6",
  "--set",
  "train-autoencoder.batch=8",
  "--set",
  "train-autoencoder.holdout=16",
  "--set",
  "train-autoencoder.checkpointEvery=3",
  "--set",
  "train-generator.steps=6",
  "--set",
  "train-generator.batch=8",
  "--set",
  "train-generator.baseChannels=32",
  "--set",
  "train-generator.sampleEvery=3",
  "--set",
  "train-generator.checkpointEvery=3",
  "--set",
  "sample.count=32",
  "--set",
  "real-stats.count=16",
];

async function cli(store: string, ...args: string[]) {
  return await cliWith({}, 0, store, ...args);
}

async function cliWith(
  env: Record<string, string>,
  code: number,
  store: string,
  ...args: string[]
) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args, "--store", store, ...TINY],
    env: { NO_COLOR: "1", ...env },
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, code, stderr.slice(-3000));
  const outcomes: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    const m = /^([a-z-]+)\s+(cached|ran|restored)\s/.exec(line);
    if (m) outcomes[m[1]] = m[2];
  }
  return { stdout, stderr, outcomes };
}

async function records(store: string): Promise<Map<string, RunRecord>> {
  const out = new Map<string, RunRecord>();
  for await (const e of Deno.readDir(`${store}/heads`)) {
    const { key } = JSON.parse(await Deno.readTextFile(`${store}/heads/${e.name}`));
    const r = JSON.parse(await Deno.readTextFile(`${store}/runs/${key}.json`)) as RunRecord;
    out.set(r.stage, r);
  }
  return out;
}

/**
 * evaluate's autoencoder floor is the SWD of real set B's reconstructions against real set A,
 * both the 16 images real-stats draws (seed 4), rebuilt here from the dataset and the model.
 */
async function checkAutoencoderFloor(store: string) {
  const metrics = JSON.parse(await Deno.readTextFile(`${store}/out/evaluate/metrics.json`));
  await initBackend("cpu");
  const real = await readFloatArray(`${store}/out/prepare/dataset.zarr`, "images/16");
  const [n, h, w, c] = real.shape, per = h * w * c, count = 16;
  const sets = realSetIndices(n, 4);
  const pick = (idx: Uint32Array) => {
    const out = new Float32Array(count * per);
    for (let i = 0; i < count; i++) {
      out.set(real.data.subarray(idx[i] * per, (idx[i] + 1) * per), i * per);
    }
    return out;
  };
  const ae = await readAutoencoderFile(`${store}/out/train-autoencoder/autoencoder.gft`);
  const p = new Params(new Rng(0), false);
  p.loadArrays(ae.arrays);
  const b = pick(sets.b);
  const x = tf.tensor4d(b.map((v) => v / 127.5 - 1), [count, h, w, c]);
  const rec = decode(p, ae.config, encode(p, ae.config, x));
  const bytes = Float32Array.from(
    rec.dataSync(),
    (v) => Math.min(255, Math.max(0, Math.round((v + 1) * 127.5))),
  );
  tf.dispose([x, rec]);
  p.dispose();
  const floor = (await slicedWassersteinDistance(
    { data: pick(sets.a), n: count, h, w, c },
    { data: bytes, n: count, h, w, c },
    { seed: 4 },
  )).average;
  assert(Math.abs(metrics.aeFloorSwd - floor) <= 1e-3 * floor, `${metrics.aeFloorSwd} vs ${floor}`);
}

Deno.test({
  name: "GAN pipeline at toy size: deterministic keys and outputs, minimal re-runs, pixel baseline",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const a = await Deno.makeTempDir({ prefix: "ganflow-e2e-a-" });
    const b = await Deno.makeTempDir({ prefix: "ganflow-e2e-b-" });
    try {
      const first = await cli(a, "run");
      assertEquals(Object.keys(first.outcomes).length, 8, first.stdout);
      assert(Object.values(first.outcomes).every((o) => o === "ran"));
      // Store b's generator is killed after its last checkpoint (step 3 of 6) and resumed: its
      // outputs, snapshots and progress grids included, must equal store a's uninterrupted run.
      await cliWith({ GANFLOW_FAULT: "before-commit:train-generator" }, 137, b, "run");
      const resumed = await cli(b, "run");
      assertEquals(resumed.outcomes["train-generator"], "ran");
      assert(/resuming from the checkpoint at step 3/.test(resumed.stdout + resumed.stderr));
      const [ra, rb] = [await records(a), await records(b)];
      for (const [stage, r] of ra) {
        assertEquals(rb.get(stage)!.key, r.key, `key of ${stage}`);
        if (stage === "report") continue; // shows timings: declared nondeterministic
        for (const [name, d] of Object.entries(r.outputs)) {
          assertEquals(rb.get(stage)!.outputs[name].digest, d.digest, `${stage}.${name}`);
        }
      }
      await checkAutoencoderFloor(a);
      const html = await Deno.readTextFile(`${a}/out/report/report.html`);
      assert(html.includes('id="metrics"') && html.includes("data:image/png;base64,"));
      if (hasChromium) {
        const seen = await inspectReport(`${a}/out/report/report.html`);
        assert(seen.images.length >= 2 && seen.images.every((w) => w > 0), JSON.stringify(seen));
        assert(seen.metrics.includes("SWD x1e3 average"), JSON.stringify(seen.metrics));
        assert(seen.metrics.includes("SWD x1e3, autoencoder floor"), JSON.stringify(seen.metrics));
        assert(seen.charts >= 2, `charts: ${seen.charts}`);
      } else {console.log(
          "note: /usr/bin/chromium not installed; the report is checked as text only",
        );}
      const again = await cli(a, "run");
      assert(Object.values(again.outcomes).every((o) => o === "cached"), again.stdout);
      const changed = await cli(a, "run", "--set", "train-generator.lr=0.0005");
      assertEquals(changed.outcomes, {
        prepare: "cached",
        "train-autoencoder": "cached",
        encode: "cached",
        "train-generator": "ran",
        sample: "ran",
        "real-stats": "cached", // shared by every generator evaluated on this dataset
        evaluate: "ran",
        report: "ran",
      });
      const pixel = await cli(a, "run", "--set", "train-generator.space=pixel");
      assertEquals(pixel.outcomes, {
        prepare: "cached",
        "train-generator": "ran",
        sample: "ran",
        "real-stats": "cached",
        evaluate: "ran",
        report: "ran",
      });
      // The generator methods through the CLI: progressive growing + one-stage + separable G,
      // then a FastGAN generator with a projected D on the trained encoder's features.
      const progressive = await cli(
        a,
        "run",
        "evaluate",
        ...["--set", "train-generator.space=pixel", "--set", "train-generator.arch=progan"],
        ...["--set", 'train-generator.growth={"start":4,"fadeKimg":0.016,"stableKimg":0.008}'],
        ...[
          "--set",
          "train-generator.schedule=one-stage",
          "--set",
          "train-generator.conv=separable",
        ],
      );
      assertEquals(progressive.outcomes["train-generator"], "ran");
      const snaps = [...Deno.readDirSync(`${a}/out/train-generator/snapshots`)].map((e) => e.name);
      assertEquals(snaps.sort(), ["step-0000003.gft", "step-0000006.gft"]);
      const rec = (await records(a)).get("train-generator")!;
      assertEquals(
        [rec.metrics.arch, rec.metrics.schedule, rec.metrics.loss],
        ["progan", "one-stage", "wgan-gp"],
      );
      // Step time at the final resolution, and peak tensor memory, which must at least hold the
      // weights, Adam's two moments of G and D, and G's EMA (float32).
      const m = rec.metrics as Record<string, number | string>;
      assert((m.msPerStep as number) > 0, `msPerStep ${m.msPerStep}`);
      if (m.backend === "onednn") {
        const stateBytes = 4 * (4 * (m.gParams as number) + 3 * (m.dParams as number));
        assert((m.peakMB as number) * 2 ** 20 >= stateBytes, `peak ${m.peakMB} MB < state`);
      }
      // Snapshots taken while growing are sampled at their own phase (4px at step 1..., 16px at
      // the end) and upsampled: every curve point is a finite SWD at the final resolution.
      const metrics = JSON.parse(await Deno.readTextFile(`${a}/out/evaluate/metrics.json`));
      assertEquals(metrics.curve.points.map((q: { step: number }) => q.step), [3, 6]);
      assert(metrics.curve.points.every((q: { swd: number }) => Number.isFinite(q.swd)));
      const projected = await cli(
        a,
        "run",
        "train-generator",
        ...["--set", "train-generator.space=pixel", "--set", "train-generator.arch=fastgan"],
        ...["--set", "train-generator.discriminator=projected"],
      );
      assertEquals(projected.outcomes, {
        prepare: "cached",
        "train-autoencoder": "cached",
        "train-generator": "ran",
      });
    } finally {
      await Deno.remove(a, { recursive: true });
      await Deno.remove(b, { recursive: true });
    }
  },
});
