import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "../tests/assert.ts";
import { initBackend } from "../backend/mod.ts";
import { Rng } from "../nn/rng.ts";
import type { BatchSource } from "../data/batch_source.ts";
import { sobelEdges } from "../data/edges.ts";
import { decodeState, encodeState, type TrainState } from "./checkpoint_state.ts";
import { generateFrom, trainConditional } from "./conditional.ts";

await initBackend("cpu");

/** Discs of random position, radius and colour on black, 8x8, deterministic in (seed, step). */
function discs(batchSize: number, seed: number): BatchSource {
  return {
    sampleShape: [8, 8, 3],
    size: 1000,
    batchSize,
    batch(step: number) {
      const r = new Rng(seed * 7919 + step);
      const out = new Float32Array(batchSize * 8 * 8 * 3).fill(-1);
      for (let i = 0; i < batchSize; i++) {
        const cx = 2 + 4 * r.uniform(), cy = 2 + 4 * r.uniform(), rad = 1.5 + r.uniform();
        const col = [r.uniform(), r.uniform(), r.uniform()];
        for (let y = 0; y < 8; y++) {
          for (let x = 0; x < 8; x++) {
            if ((x - cx) ** 2 + (y - cy) ** 2 > rad * rad) continue;
            for (let k = 0; k < 3; k++) out[((i * 8 + y) * 8 + x) * 3 + k] = col[k];
          }
        }
      }
      return Promise.resolve(out);
    },
    close: () => Promise.resolve(),
  };
}

const base = {
  config: { factor: 2, latentChannels: 4, width: 8 },
  condition: (x: Float32Array) => sobelEdges(x, [8, 8, 3], 0.5),
  conditionChannels: 1,
  seed: 3,
  lr: 3e-3,
};

Deno.test("conditional (edges -> image): training lowers the L1; output has image channels", async () => {
  const r = await trainConditional({ ...base, data: discs(8, 1), steps: 15 });
  const first = r.history.l1.slice(0, 3).reduce((a, b) => a + b) / 3;
  const last = r.history.l1.slice(-3).reduce((a, b) => a + b) / 3;
  assert(last < 0.8 * first, `L1 ${first} -> ${last}`);
  const x = tf.tensor4d(base.condition(await discs(2, 9).batch(0)), [2, 8, 8, 1]);
  const y = generateFrom(r.params, base.config, x);
  assertEquals(y.shape, [2, 8, 8, 3]);
  tf.dispose([x, y]);
  r.params.dispose();
});

Deno.test("conditional: checkpoint and resume give bit-identical weights", async () => {
  const full = await trainConditional({ ...base, data: discs(4, 2), steps: 4 });
  const saved: TrainState[] = [];
  await trainConditional({
    ...base,
    data: discs(4, 2),
    steps: 3,
    checkpoint: { every: 2, save: (_s, st) => Promise.resolve(void saved.push(st)) },
  });
  assertEquals(saved.map((s) => s.step), [2]);
  const resumed = await trainConditional({
    ...base,
    data: discs(4, 2),
    steps: 4,
    checkpoint: {
      every: 100,
      save: () => Promise.resolve(),
      resume: decodeState(encodeState(saved[0])),
    },
  });
  const a = full.params.toArrays(), b = resumed.params.toArrays();
  for (const k of Object.keys(a)) assertEquals(b[k].data, a[k].data, k);
  assertEquals(resumed.history, full.history);
  full.params.dispose();
  resumed.params.dispose();
});
