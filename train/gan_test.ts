import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertNotEquals, assertRejects } from "../tests/assert.ts";
import { initBackend } from "../backend/mod.ts";
import { createGan, trainGan } from "./gan.ts";
import { createAutoencoder } from "./autoencoder.ts";
import { encoderFeatures } from "../models/autoencoder.ts";
import { projectFeatures } from "../models/projected_d.ts";
import type { BatchSource } from "../data/batch_source.ts";
import { blobs } from "../tests/blob_batches.ts";
import { decodeState, encodeState, type TrainState } from "./checkpoint_state.ts";

await initBackend("cpu"); // the reference backend: bit-identical resume is asserted here

const tinyGan = (shape: [number, number, number], tanh: boolean) => ({
  shape,
  zDim: 8,
  baseChannels: 16,
  minChannels: 8,
  tanh,
});

for (
  const [space, shape, tanh] of [["latent", [8, 8, 4], false], ["pixel", [8, 8, 3], true]] as const
) {
  Deno.test(`GAN (${space}): a few steps change the weights and keep losses finite`, async () => {
    const before = await trainGan({
      config: tinyGan([...shape], tanh),
      data: blobs([...shape], 8, 1),
      steps: 0,
      seed: 5,
    });
    const after = await trainGan({
      config: tinyGan([...shape], tanh),
      data: blobs([...shape], 8, 1),
      steps: 3,
      seed: 5,
    });
    assertEquals(after.history.d.length, 3);
    assert(after.history.d.every(Number.isFinite) && after.history.g.every(Number.isFinite));
    for (const [a, b] of [[before.g, after.g], [before.d, after.d]]) {
      const x = a.toArrays(), y = b.toArrays();
      assert(
        Object.keys(x).some((k) => x[k].data.some((v, i) => v !== y[k].data[i])),
        "weights unchanged",
      );
    }
    tf.disposeVariables();
  });
}

Deno.test("GAN: checkpoint at step 2 and resume gives bit-identical weights to an uninterrupted run (lazy R1 included)", async () => {
  const cfg = tinyGan([8, 8, 4], false);
  // R1 at steps 0 and 3: the resumed run must take the one at step 3 by the step's index.
  const r1 = { gamma: 0.5, every: 3 };
  const full = await trainGan({ config: cfg, data: blobs([8, 8, 4], 4, 2), steps: 4, seed: 9, r1 });
  const saved: TrainState[] = [];
  await trainGan({
    config: cfg,
    data: blobs([8, 8, 4], 4, 2),
    steps: 3, // "killed" after step 3, with a checkpoint at 2
    seed: 9,
    r1,
    checkpoint: { every: 2, save: (_s, st) => Promise.resolve(void saved.push(st)) },
  });
  assertEquals(saved.map((s) => s.step), [2]);
  const restored = decodeState(encodeState(saved[0])); // through the file format
  const resumed = await trainGan({
    config: cfg,
    data: blobs([8, 8, 4], 4, 2),
    steps: 4,
    seed: 9,
    r1,
    checkpoint: { every: 100, save: () => Promise.resolve(), resume: restored },
  });
  for (const part of ["g", "d", "ema"] as const) {
    const x = full[part].toArrays(), y = resumed[part].toArrays();
    for (const k of Object.keys(x)) assertEquals(y[k].data, x[k].data, `${part} ${k}`);
  }
  assertEquals(resumed.history, full.history);
  tf.disposeVariables();
});

Deno.test("GAN: lrRampdown leaves the first step alone, changes later ones, and resumes bit-identically", async () => {
  const cfg = tinyGan([8, 8, 4], false);
  type Options = Parameters<typeof trainGan>[0];
  const run = (steps: number, lrRampdown: number, more: Partial<Options> = {}) =>
    trainGan({ config: cfg, data: blobs([8, 8, 4], 4, 4), steps, seed: 3, lrRampdown, ...more });
  const w = (r: Awaited<ReturnType<typeof trainGan>>) => r.g.toArrays()["g.out.w"].data;
  // With the whole run ramped, step 0 has the full rate: after one step both runs are equal.
  // (A 1-step run's ramp is (0 - 0) / 1 = 0 at step 0, i.e. the full rate too.)
  assertEquals(w(await run(1, 0)), w(await run(1, 1)));
  const plain = await run(4, 0), ramped = await run(4, 1);
  assertNotEquals(w(plain), w(ramped));
  const saved: TrainState[] = [];
  // Killed after step 3 of 4 (the schedule depends on the run's length), checkpointed at 2.
  await run(4, 1, {
    until: (s) => s === 3,
    checkpoint: { every: 2, save: (_s, st) => Promise.resolve(void saved.push(st)) },
  });
  const resumed = await run(4, 1, {
    checkpoint: { every: 100, save: () => Promise.resolve(), resume: saved[0] },
  });
  assertEquals(w(resumed), w(ramped));
  tf.disposeVariables();
});

Deno.test("GAN: dLr sets D's learning rate alone (equal to lr: the same run as without it)", async () => {
  const cfg = tinyGan([8, 8, 4], false);
  const run = (dLr?: number) =>
    trainGan({ config: cfg, data: blobs([8, 8, 4], 4, 5), steps: 2, seed: 4, lr: 1e-3, dLr });
  const d = (r: Awaited<ReturnType<typeof trainGan>>) => r.d.toArrays()["d.fc.w"].data;
  const g = (r: Awaited<ReturnType<typeof trainGan>>) => r.g.toArrays()["g.out.w"].data;
  const plain = await run(), same = await run(1e-3), faster = await run(4e-3);
  assertEquals(d(same), d(plain));
  assertEquals(g(same), g(plain));
  assertNotEquals(d(faster), d(plain));
  tf.disposeVariables();
});

Deno.test("GAN: a mode-conditioned D learns from the real samples' modes, and resumes bit-identically", async () => {
  const cfg = {
    ...tinyGan([8, 8, 4], false),
    zModes: 3,
    modeWeights: [0.5, 0.25, 0.25],
    conditionD: true,
  };
  type Options = Parameters<typeof trainGan>[0];
  const modesA = (step: number) => Int32Array.from({ length: 4 }, (_, j) => (step + j) % 3);
  const modesB = (step: number) => Int32Array.from({ length: 4 }, (_, j) => (step + 2 * j) % 3);
  const run = (realModes: Options["realModes"], more: Partial<Options> = {}) =>
    trainGan({ config: cfg, data: blobs([8, 8, 4], 4, 6), steps: 4, seed: 2, realModes, ...more });
  const embed = (r: Awaited<ReturnType<typeof trainGan>>) => r.d.toArrays()["d.embed"].data;
  const a = await run(modesA), b = await run(modesB);
  assert(a.history.d.every(Number.isFinite) && a.history.g.every(Number.isFinite));
  assertNotEquals(embed(a), embed(b));
  const saved: TrainState[] = [];
  await run(modesA, {
    until: (s) => s === 3,
    checkpoint: { every: 2, save: (_s, st) => Promise.resolve(void saved.push(st)) },
  });
  const resumed = await run(modesA, {
    checkpoint: { every: 100, save: () => Promise.resolve(), resume: saved[0] },
  });
  assertEquals(embed(resumed), embed(a));
  assertEquals(resumed.g.toArrays()["g.out.w"].data, a.g.toArrays()["g.out.w"].data);
  await assertRejects(() => run(undefined), "needs the real samples' modes");
  tf.disposeVariables();
});

Deno.test("GAN: augmenting D's inputs changes the run, resumes bit-identically, and [] is none", async () => {
  const cfg = tinyGan([8, 8, 4], false);
  type Options = Parameters<typeof trainGan>[0];
  const run = (augment?: Options["augment"], more: Partial<Options> = {}) =>
    trainGan({
      config: cfg,
      data: blobs([8, 8, 4], 4, 7),
      steps: 4,
      seed: 5,
      r1: { gamma: 1, every: 2 },
      augment,
      ...more,
    });
  const w = (r: Awaited<ReturnType<typeof trainGan>>) => r.g.toArrays()["g.out.w"].data;
  const plain = await run(), none = await run([]);
  const aug = await run(["translation", "cutout"]);
  assertEquals(w(none), w(plain));
  assertNotEquals(w(aug), w(plain));
  assert(aug.history.d.every(Number.isFinite) && aug.history.g.every(Number.isFinite));
  const saved: TrainState[] = [];
  await run(["translation", "cutout"], {
    until: (s) => s === 3,
    checkpoint: { every: 2, save: (_s, st) => Promise.resolve(void saved.push(st)) },
  });
  const resumed = await run(["translation", "cutout"], {
    checkpoint: { every: 100, save: () => Promise.resolve(), resume: saved[0] },
  });
  assertEquals(w(resumed), w(aug));
  assertEquals(resumed.d.toArrays()["d.fc.w"].data, aug.d.toArrays()["d.fc.w"].data);
  tf.disposeVariables();
});

Deno.test("GAN: same seed twice -> identical weights; another seed differs", async () => {
  const cfg = tinyGan([8, 8, 4], false);
  const a = await trainGan({ config: cfg, data: blobs([8, 8, 4], 4, 3), steps: 2, seed: 1 });
  const b = await trainGan({ config: cfg, data: blobs([8, 8, 4], 4, 3), steps: 2, seed: 1 });
  const c = await trainGan({ config: cfg, data: blobs([8, 8, 4], 4, 3), steps: 2, seed: 2 });
  assertEquals(a.g.toArrays()["g.out.w"].data, b.g.toArrays()["g.out.w"].data);
  assertNotEquals(a.g.toArrays()["g.out.w"].data, c.g.toArrays()["g.out.w"].data);
  tf.disposeVariables();
});

Deno.test("GAN: `until` ends training after the step it names, as if that were the last", async () => {
  const cfg = tinyGan([8, 8, 4], false);
  const short = await trainGan({ config: cfg, data: blobs([8, 8, 4], 4, 3), steps: 2, seed: 4 });
  const saves: number[] = [];
  const stopped = await trainGan({
    config: cfg,
    data: blobs([8, 8, 4], 4, 3),
    steps: 50,
    seed: 4,
    until: (step) => step === 2,
    snapshots: { every: 10, save: (step) => Promise.resolve(void saves.push(step)) },
  });
  assertEquals(stopped.history.step, [1, 2]);
  assertEquals(saves, [2]); // the final snapshot is written at the early end
  assertEquals(stopped.ema.toArrays()["g.out.w"].data, short.ema.toArrays()["g.out.w"].data);
  tf.disposeVariables();
});

Deno.test("GAN: a NaN loss stops training with the step and the last good checkpoint", async () => {
  const data = blobs([8, 8, 4], 4, 1);
  const poisoned: BatchSource = {
    ...data,
    batch: async (
      step,
    ) => (step === 3 ? new Float32Array(4 * 256).fill(NaN) : await data.batch(step)),
  };
  await assertRejects(
    () =>
      trainGan({
        config: tinyGan([8, 8, 4], false),
        data: poisoned,
        steps: 6,
        seed: 1,
        checkpoint: { every: 2, save: () => Promise.resolve() },
      }),
    /training diverged at step 3 \(d=NaN, g=.*\); last good checkpoint: step 2/,
  );
  tf.disposeVariables();
});

Deno.test("ProGAN: a checkpoint taken mid-fade resumes mid-fade, bit-identical to an uninterrupted run", async () => {
  const cfg = { ...tinyGan([16, 16, 3], true), arch: "progan" as const };
  // 4px stable for 2 steps, 8px fades in over steps 2-5 (checkpoint at 3: alpha 0.25).
  const growth = { start: 4, fadeKimg: 0.016, stableKimg: 0.008 };
  const opts = {
    config: cfg,
    seed: 5,
    growth,
    loss: "wgan" as const,
    reg: { gpLambda: 10, drift: 1e-3 },
    lr: 1e-3,
    beta1: 0,
  };
  const seen: string[] = [];
  const full = await trainGan({
    ...opts,
    data: blobs([16, 16, 3], 4, 4),
    steps: 6,
    onProgress: (_s, _t, i) => seen.push(`${i.resolution}:${i.alpha}`),
  });
  assertEquals(seen, ["4:1", "4:1", "8:0", "8:0.25", "8:0.5", "8:0.75"]);
  const saved: TrainState[] = [];
  await trainGan({
    ...opts,
    data: blobs([16, 16, 3], 4, 4),
    steps: 4,
    checkpoint: { every: 3, save: (_s, st) => Promise.resolve(void saved.push(st)) },
  });
  const resumed = await trainGan({
    ...opts,
    data: blobs([16, 16, 3], 4, 4),
    steps: 6,
    checkpoint: {
      every: 100,
      save: () => Promise.resolve(),
      resume: decodeState(encodeState(saved[0])),
    },
  });
  for (const part of ["g", "d", "ema"] as const) {
    const x = full[part].toArrays(), y = resumed[part].toArrays();
    for (const k of Object.keys(x)) assertEquals(y[k].data, x[k].data, `${part} ${k}`);
  }
  assert(full.history.d.every(Number.isFinite) && full.history.g.every(Number.isFinite));
  // Images shown count the steps before the checkpoint too: 6 steps of 4.
  assertEquals([full.images, resumed.images], [24, 24]);
  tf.disposeVariables();
});

Deno.test("method combinations train: one-stage FastGAN with separable convs and a projected D", async () => {
  const aeConfig = { factor: 2, latentChannels: 4, width: 8 };
  const ae = createAutoencoder(aeConfig, 16, 1);
  const features = projectFeatures((x) => encoderFeatures(ae, aeConfig, x), 3, 8);
  const cfg = {
    ...tinyGan([16, 16, 3], true),
    arch: "fastgan" as const,
    conv: "separable" as const,
    discriminator: "projected" as const,
  };
  const start = createGan(cfg, 8, features).g.toArrays();
  const res = await trainGan({
    config: cfg,
    data: blobs([16, 16, 3], 4, 6),
    steps: 3,
    seed: 8,
    schedule: "one-stage",
    features,
  });
  assert(res.history.d.every(Number.isFinite) && res.history.g.every(Number.isFinite));
  const after = res.g.toArrays();
  assert(Object.keys(after).some((k) => k.endsWith(".dw")), "G uses depthwise convs");
  const moved = Object.keys(start).filter((k) =>
    after[k].data.some((v, i) => v !== start[k].data[i])
  );
  assert(moved.length === Object.keys(start).length, `every G weight moved: ${moved.length}`);
  assertEquals(ae.names().every((n) => !res.d.has(n)), true); // the feature net stays frozen
  tf.disposeVariables();
});
