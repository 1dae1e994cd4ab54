import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "../tests/assert.ts";
import { initBackend } from "../backend/mod.ts";
import { Rng } from "../nn/rng.ts";
import { latentModes, latentWidth, sampleLatents } from "./gan.ts";

await initBackend("cpu");

Deno.test("latents without modes are the seeded stream's standard normals, row after row", () => {
  const z = sampleLatents(new Rng(4), 3, { zDim: 5 });
  assertEquals(z.shape, [3, 5]);
  assertEquals(Array.from(z.dataSync()), Array.from(new Rng(4).normalArray(15)));
  tf.dispose(z);
});

Deno.test("latents with modes: normals, then a one-hot of norm sqrt(zDim), modes near uniform", () => {
  const zDim = 16, zModes = 10, n = 5000;
  assertEquals(latentWidth({ zDim, zModes }), 26);
  const z = sampleLatents(new Rng(4), n, { zDim, zModes });
  assertEquals(z.shape, [n, 26]);
  const d = z.dataSync();
  // Rebuild row 0 from the same stream: zDim normals, then the mode drawn after them.
  const rng = new Rng(4);
  assertEquals(Array.from(d.subarray(0, zDim)), Array.from(rng.normalArray(zDim)));
  assertEquals(d[zDim + rng.int(zModes)], 4);
  const counts = new Array(zModes).fill(0);
  for (let i = 0; i < n; i++) {
    const hot = Array.from(d.subarray(i * 26 + zDim, (i + 1) * 26));
    assertEquals(hot.filter((v) => v !== 0), [4], `row ${i}: one mode, sqrt(16) = 4`);
    counts[hot.findIndex((v) => v !== 0)]++;
  }
  // Each mode's count is binomial(5000, 0.1): mean 500, sd 21; 6 sd either side.
  assert(counts.every((c) => Math.abs(c - 500) < 127), `mode counts ${counts}`);
  tf.dispose(z);
});

Deno.test("latents with mode weights draw each mode about as often as its weight; latentModes reads them", () => {
  const cfg = { zDim: 4, zModes: 4, modeWeights: [0.6, 0.3, 0.1, 0] };
  const n = 4000;
  const z = sampleLatents(new Rng(9), n, cfg);
  const modes = latentModes(z, cfg);
  assertEquals(modes.shape, [n, 4]);
  const d = modes.dataSync(), counts = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) {
    const row = Array.from(d.subarray(4 * i, 4 * i + 4));
    assertEquals(row.filter((v) => v === 1).length, 1, `row ${i} one-hot`);
    assertEquals(row.filter((v) => v === 0).length, 3, `row ${i} one-hot`);
    counts[row.indexOf(1)]++;
  }
  // Binomial sds: 31, 29, 19; 6 sd bounds. A zero weight is never drawn.
  assert(Math.abs(counts[0] - 2400) < 186 && Math.abs(counts[1] - 1200) < 174, `${counts}`);
  assert(Math.abs(counts[2] - 400) < 114 && counts[3] === 0, `${counts}`);
  tf.dispose([z, modes]);
});
