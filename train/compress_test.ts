import * as tf from "@tensorflow/tfjs";
import { assert, assertAlmostEquals, assertEquals } from "../tests/assert.ts";
import { initBackend } from "../backend/mod.ts";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import type { NamedArray } from "../nn/tensor_file.ts";
import { pruneDecoder, slimDecode, type SlimDecoderConfig } from "../models/slim_decoder.ts";
import { decodeState, encodeState, type TrainState } from "./checkpoint_state.ts";
import { psnr } from "./autoencoder.ts";
import { compressDecoder } from "./compress.ts";
import type { Calibration, CodeSet, CompressOptions } from "./compress_options.ts";
import {
  choosePruneCount,
  decodeAll,
  keepAfterPruning,
  paramsFrom,
  psnrLossDb,
} from "./compress_pruning.ts";
import { batchRows } from "./compress_run.ts";

await initBackend("cpu"); // the reference backend: bit-identical resume is asserted here

const CFG: SlimDecoderConfig = {
  latentChannels: 2,
  imageChannels: 3,
  levels: 1,
  channels: [8, 8, 8],
};
const CODE: [number, number, number] = [4, 4, 2];
const IMAGE: [number, number, number] = [8, 8, 3];

/** A random He-initialised decoder as the teacher, and `n` random codes with its decodes. */
async function teacherAndData(seed: number, n: number) {
  const p = new Params(new Rng(seed), false);
  slimDecode(p, CFG, tf.zeros([1, ...CODE])).dispose();
  const teacher = p.toArrays();
  const codes = new Rng(seed + 1).normalArray(n * 32);
  const outs = await decodeAll(p, CFG, codes, CODE);
  p.dispose();
  return { teacher, codes, outs };
}

async function split(seed: number, noiseStd = 0.05) {
  const { teacher, codes, outs } = await teacherAndData(seed, 96);
  const per = 32, img = 8 * 8 * 3;
  const train: CodeSet = {
    codes: codes.slice(0, 64 * per),
    codeShape: CODE,
    targets: outs.slice(0, 64 * img),
    imageShape: IMAGE,
  };
  // "Originals" = teacher outputs plus fixed noise, so the teacher's PSNR is finite.
  const noise = new Rng(seed + 2).normalArray(32 * img, noiseStd);
  const reference = outs.slice(64 * img);
  const calibration: Calibration = {
    codes: codes.slice(64 * per),
    codeShape: CODE,
    reference,
    originals: reference.map((v, i) => v + noise[i]),
  };
  return { teacher, train, calibration };
}

Deno.test("batchRows: every row once per epoch, a pure function of (seed, step)", () => {
  const rows = [0, 1, 2].flatMap((s) => batchRows(12, 4, 5, s));
  assertEquals([...rows].sort((a, b) => a - b), [...Array(12).keys()]);
  assertEquals(batchRows(12, 4, 5, 7), batchRows(12, 4, 5, 7));
});

Deno.test("keepAfterPruning: global smallest |scale| first, a per-layer minimum (hand case)", () => {
  const s = [Float32Array.of(0.5, -0.01, 0.3), Float32Array.of(0.02, -0.9)];
  assertEquals(keepAfterPruning(s, 0), { keep: [[0, 1, 2], [0, 1]], threshold: 0 });
  const two = keepAfterPruning(s, 2);
  assertEquals(two.keep, [[0, 2], [1]]);
  assertAlmostEquals(two.threshold, 0.02, 1e-7);
  assertEquals(keepAfterPruning(s, 3).keep, [[0], [1]]);
  // Asking for more than the minimum allows stops at one channel per layer.
  assertEquals(keepAfterPruning(s, 10).keep, [[0], [1]]);
  // With a minimum of 2 the second layer keeps both; pruning continues in the first.
  assertEquals(keepAfterPruning(s, 2, 2).keep, [[0, 2], [0, 1]]);
});

Deno.test("choosePruneCount: a channel budget, and the largest count within a PSNR loss", async () => {
  const { teacher, calibration } = await split(11, 0.05);
  const scales = [0, 1, 2].map((l) => new Rng(20 + l).uniformArray(8, 0.1, 1));
  for (const [l, c] of [[0, 3], [1, 6], [2, 1]]) scales[l][c] = 1e-3; // condensed away
  // The condensed teacher is the scaled network: its outputs are the reference.
  const all = pruneDecoder(teacher, CFG, CFG.channels.map((c) => [...Array(c).keys()]), scales);
  const pa = paramsFrom(all.arrays);
  const noise = calibration.originals.map((v, i) => v - calibration.reference[i]);
  calibration.reference = await decodeAll(pa, CFG, calibration.codes, CODE);
  calibration.originals = calibration.reference.map((v, i) => v + noise[i]);
  pa.dispose();
  const budget = await choosePruneCount(teacher, scales, CFG, calibration, { keepFraction: 0.25 });
  assertEquals(budget.count, 18); // 24 channels, keep 6
  const target = { maxPsnrLossDb: 1 };
  const c = await choosePruneCount(teacher, scales, CFG, calibration, target);
  // The loss of pruning n channels, measured directly rather than through the search.
  const loss = async (n: number) => {
    const { keep } = keepAfterPruning(scales, n);
    const pr = pruneDecoder(teacher, CFG, keep, scales);
    const p = paramsFrom(pr.arrays);
    const l = psnrLossDb(calibration, await decodeAll(p, pr.config, calibration.codes, CODE));
    p.dispose();
    return l;
  };
  assert(c.count >= 3 && c.count < 21, `count ${c.count}`); // 6 with these seeds
  assert(await loss(3) < 0.01, "the three ~0 channels cost nothing");
  const atCount = await loss(c.count);
  assert(atCount <= 1, `loss at ${c.count}: ${atCount}`);
  const above = await loss(c.count + 1);
  assert(above > 1, `loss at ${c.count + 1}: ${above}`);
});

Deno.test("condense: the L1 penalty drives the scales of unused channels to ~0", async () => {
  const { teacher, train, calibration } = await split(3);
  // Channels 5..7 of dec.in feed nothing: their outgoing weights in dec.up1 are zero.
  const w = teacher["dec.up1.w"];
  const dead = [5, 6, 7];
  for (let y = 0; y < 9; y++) {
    for (const c of dead) for (let o = 0; o < 8; o++) w.data[(y * 8 + c) * 8 + o] = 0;
  }
  const r = await compressDecoder({
    teacher,
    config: CFG,
    train,
    calibration,
    target: { keepFraction: 1 },
    condenseSteps: 60,
    distillSteps: 0,
    batch: 16,
    seed: 1,
    lr: 0.05,
    weightLr: 0,
    l1: 1e-3,
  });
  const s0 = r.condensed.scales[0];
  for (const c of dead) assert(Math.abs(s0[c]) < 0.05, `dead channel ${c}: ${s0[c]}`);
  for (const c of [0, 1, 2, 3, 4]) assert(Math.abs(s0[c]) > 0.3, `live channel ${c}: ${s0[c]}`);
  // And the L1 sum went down.
  assert(r.history.l1.at(-1)! < r.history.l1[0] - 1, JSON.stringify(r.history.l1.slice(-3)));
});

Deno.test("distillation improves PSNR over the pruned-only network; tensors shrink", async () => {
  const { teacher, train, calibration } = await split(5);
  const o: CompressOptions = {
    teacher,
    config: CFG,
    train,
    calibration,
    target: { keepFraction: 0.5 },
    condenseSteps: 10,
    distillSteps: 30,
    batch: 8,
    seed: 2,
    lr: 0.02,
    distillLr: 2e-3,
  };
  const r = await compressDecoder(o);
  assertEquals(r.student.config.channels.reduce((a, b) => a + b), 12);
  for (const [k, a] of Object.entries(r.student.arrays)) {
    assert(a.data.length <= teacher[k].data.length, k);
  }
  assert(r.student.arrays["dec.up1.w"].data.length < teacher["dec.up1.w"].data.length);
  const score = async (arrays: Record<string, NamedArray>) => {
    const p = paramsFrom(arrays);
    const out = await decodeAll(p, r.student.config, calibration.codes, CODE);
    p.dispose();
    return psnr(out, calibration.reference);
  };
  const before = await score(r.pruned.arrays), after = await score(r.student.arrays);
  assert(after > before + 1, `PSNR vs teacher: pruned ${before.toFixed(2)}, distilled ${after}`);
  assert(r.history.pixel.at(-1)! < r.history.pixel[0], "pixel loss fell");
});

for (const probeSteps of [2, undefined]) {
  const what = probeSteps ? "short probes, then a final distillation" : "full-length probes";
  Deno.test(`compress (${what}): resuming from checkpoints is bit-identical`, async () => {
    const { teacher, train, calibration } = await split(7);
    const o: CompressOptions = {
      teacher,
      config: CFG,
      train,
      calibration,
      // A random teacher and 4-step trainings lose a lot: a target between the probes' losses
      // (found with the FLOPs-weighted penalty; the weighting is pinned so it stays between).
      target: { maxPsnrLossDb: 18 },
      l1Weighting: "flops",
      condenseSteps: 4,
      distillSteps: 4,
      probeSteps,
      batch: 8,
      seed: 4,
    };
    const full = await compressDecoder(o);
    assert(full.selection.distilled.length > 1, "the search probed with distillation");
    const removed = 24 - full.keep.flat().length;
    const passing = full.selection.distilled.filter((p) => p.lossDb <= 18).map((p) => p.pruned);
    assert(
      passing.length && passing.length < full.selection.distilled.length,
      JSON.stringify(full.selection.distilled),
    );
    assertEquals(removed, Math.max(...passing), "the largest passing probe is chosen");
    if (!probeSteps) {
      const chosen = full.selection.distilled.find((p) => p.pruned === removed)!;
      assertAlmostEquals(full.calibrationLossDb, chosen.lossDb, 1e-9, "the probe is the result");
    }
    const saved: TrainState[] = [];
    const withSaves = await compressDecoder({
      ...o,
      checkpoint: {
        every: 3,
        save: (_step, st) => Promise.resolve(void saved.push(decodeState(encodeState(st)))),
      },
    });
    assertEquals(withSaves.history, full.history);
    const steps = saved.map((s) => s.step);
    // Condense at 3 and its end (4), one per probe, then the final distillation's multiples of 3.
    assertEquals(steps.slice(0, 2), [3, 4]);
    const probes = full.selection.distilled.length;
    assertEquals(steps.length, 2 + probes + (probeSteps ? 1 : 0), JSON.stringify(steps));
    const last = saved.at(-1)!;
    const extra = last.extra as { final?: unknown; best?: unknown };
    assert(probeSteps ? extra.final : extra.best, JSON.stringify(extra));
    // One checkpoint of each kind: mid-condense, after the first probe, the last one.
    for (const state of [saved[0], saved[2], last]) {
      const resumed = await compressDecoder({
        ...o,
        checkpoint: { every: 100, save: () => Promise.resolve(), resume: state },
      });
      assertEquals(resumed.keep, full.keep);
      for (const [k, a] of Object.entries(full.student.arrays)) {
        assertEquals(
          resumed.student.arrays[k].data,
          a.data,
          `${k} after resuming at ${state.step}`,
        );
      }
      assertEquals(resumed.history, full.history);
      assertEquals(resumed.selection, full.selection);
    }
  });
}
