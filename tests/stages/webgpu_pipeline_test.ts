/**
 * The GAN pipeline at toy size on WebGPU (Mesa's lavapipe in CI) through the real CLI, against
 * the same run on the cpu backend in the same store:
 * - switching the backend re-runs every stage that uses it (prepare, which does not, stays
 *   cached), and switching back restores the cpu results from the store;
 * - the same stages on webgpu in another store give the same outputs (determinism);
 * - the webgpu run's metrics are within a stated tolerance of the cpu run's;
 * - the generator methods (progressive growing with WGAN-GP, one-stage, separable convs) and
 *   compress run on webgpu too.
 * Ignored, with the reason printed, where no WebGPU adapter exists.
 */
import { assert, assertEquals } from "../assert.ts";
import type { RunRecord } from "../../pipeline/stage.ts";
import { noWebGpu, sayIfIgnored } from "../../backend/webgpu/gpu_available.ts";

sayIfIgnored("the WebGPU pipeline test");

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const TINY = Object.entries({
  "prepare.source": "procedural",
  "prepare.limit": 48,
  "prepare.resolution": 16,
  "train-autoencoder.steps": 3,
  "train-autoencoder.batch": 4,
  "train-autoencoder.holdout": 8,
  "train-autoencoder.checkpointEvery": 2,
  "train-generator.steps": 3,
  "train-generator.batch": 4,
  "train-generator.baseChannels": 8,
  "train-generator.sampleEvery": 2,
  "train-generator.checkpointEvery": 2,
  "sample.count": 8,
  "real-stats.count": 8,
  "compress.condenseSteps": 2,
  "compress.distillSteps": 2,
  "compress.batch": 4,
  "compress.calibration": 8,
  "compress.images": 16,
  "compress.latencyReps": 1,
  "compress.keepFraction": 0.5,
}).flatMap(([k, v]) => ["--set", `${k}=${v}`]);

async function cli(store: string, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args, "--store", store, ...TINY],
    env: { NO_COLOR: "1", XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assertEquals(
    out.code,
    0,
    new TextDecoder().decode(out.stderr).slice(-3000) + stdout.slice(-2000),
  );
  const outcomes: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    const m = /^([a-z-]+)\s+(cached|ran|restored)\s/.exec(line);
    if (m) outcomes[m[1]] = m[2];
  }
  return outcomes;
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

const num = (r: RunRecord | undefined, k: string) => (r?.metrics as Record<string, number>)[k];

Deno.test({
  name:
    "webgpu pipeline: same results as cpu within tolerance; switching backends re-runs and restores",
  ignore: noWebGpu !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const store = await Deno.makeTempDir({ prefix: "ganflow-webgpu-" });
    try {
      const cpu = await cli(store, "run", "--backend", "cpu");
      assert(Object.values(cpu).every((o) => o === "ran"), JSON.stringify(cpu));
      const onCpu = await records(store);
      const gpu = await cli(store, "run", "--backend", "webgpu");
      assertEquals(gpu, {
        prepare: "cached",
        "train-autoencoder": "ran",
        encode: "ran",
        "train-generator": "ran",
        sample: "ran",
        "real-stats": "ran",
        evaluate: "ran",
        report: "ran",
      });
      const onGpu = await records(store);
      assertEquals(onGpu.get("train-generator")!.metrics.backend, "webgpu");
      // Deterministic on the GPU too: the same stages in a fresh store give the same outputs.
      const other = await Deno.makeTempDir({ prefix: "ganflow-webgpu-b-" });
      try {
        await cli(other, "run", "train-generator", "--backend", "webgpu");
        for (const [stage, r] of await records(other)) {
          assertEquals(r.key, onGpu.get(stage)!.key, `key of ${stage}`);
          for (const [name, d] of Object.entries(r.outputs)) {
            assertEquals(d.digest, onGpu.get(stage)!.outputs[name].digest, `${stage}.${name}`);
          }
        }
      } finally {
        await Deno.remove(other, { recursive: true });
      }
      // Tolerances: real-stats' SWD is on host arrays (identical); the trained networks differ
      // by float32 rounding after 3 steps each: PSNR within 0.05 dB, the model's SWD x1e3
      // within 2% (its real-vs-real spread on 8 images is ~130).
      assertEquals(
        num(onGpu.get("real-stats"), "reals2Swd"),
        num(onCpu.get("real-stats"), "reals2Swd"),
      );
      const psnr = [
        num(onCpu.get("train-autoencoder"), "psnr"),
        num(onGpu.get("train-autoencoder"), "psnr"),
      ];
      assert(
        Math.abs(psnr[0] - psnr[1]) < 0.05,
        `autoencoder PSNR cpu ${psnr[0]} webgpu ${psnr[1]}`,
      );
      const swd = [num(onCpu.get("evaluate"), "swd"), num(onGpu.get("evaluate"), "swd")];
      assert(
        Math.abs(swd[0] - swd[1]) <= 0.02 * swd[0],
        `model SWD cpu ${swd[0]} webgpu ${swd[1]}`,
      );
      const ms = [num(onCpu.get("evaluate"), "msSsim"), num(onGpu.get("evaluate"), "msSsim")];
      assert(Math.abs(ms[0] - ms[1]) < 0.01, `MS-SSIM cpu ${ms[0]} webgpu ${ms[1]}`);
      console.log(`cpu vs webgpu: PSNR ${psnr}, model SWD ${swd}, MS-SSIM ${ms}`);
      // Back to cpu: every result comes from the store, identical to the first run's.
      const back = await cli(store, "run", "--backend", "cpu");
      assert(
        Object.values(back).every((o) => o === "cached" || o === "restored"),
        JSON.stringify(back),
      );
      const restored = await records(store);
      for (const [stage, r] of onCpu) assertEquals(restored.get(stage)!.key, r.key, stage);
      // And to webgpu again: its results are restored from the store like any other.
      const again = await cli(store, "run", "--backend", "webgpu");
      assert(
        Object.values(again).every((o) => o === "cached" || o === "restored"),
        JSON.stringify(again),
      );
      const gpuAgain = await records(store);
      for (const [stage, r] of onGpu) assertEquals(gpuAgain.get(stage)!.key, r.key, stage);
      // The generator methods on webgpu: progressive growing with WGAN-GP's second-order
      // gradient, one-stage, separable convs; then compress.
      const methods = await cli(
        store,
        "run",
        "train-generator",
        "--backend",
        "webgpu",
        ...["--set", "train-generator.space=pixel", "--set", "train-generator.arch=progan"],
        ...["--set", 'train-generator.growth={"start":4,"fadeKimg":0.004,"stableKimg":0.004}'],
        ...[
          "--set",
          "train-generator.schedule=one-stage",
          "--set",
          "train-generator.conv=separable",
        ],
      );
      assertEquals(methods["train-generator"], "ran");
      const rec = (await records(store)).get("train-generator")!;
      assertEquals(
        [rec.metrics.arch, rec.metrics.schedule, rec.metrics.loss, rec.metrics.backend],
        ["progan", "one-stage", "wgan-gp", "webgpu"],
      );
      const history = JSON.parse(
        await Deno.readTextFile(`${store}/out/train-generator/history.json`),
      );
      assertEquals(history.step, [1, 2, 3]);
      assert([...history.d, ...history.g].every(Number.isFinite), JSON.stringify(history));
      const compress = await cli(store, "run", "compress", "--backend", "webgpu");
      assertEquals(compress.compress, "ran");
    } finally {
      await Deno.remove(store, { recursive: true });
    }
  },
});
