import * as tf from "@tensorflow/tfjs";
import { assert, assertAllClose, assertEquals, assertNotEquals } from "../tests/assert.ts";
import { initBackend } from "../backend/mod.ts";
import { blobs } from "../tests/blob_batches.ts";
import { trainAutoencoder, withCodeNoise } from "./autoencoder.ts";

await initBackend("cpu");

Deno.test("autoencoder: training reduces the reconstruction error", async () => {
  const r = await trainAutoencoder({
    config: { factor: 2, latentChannels: 4, width: 8 },
    data: blobs([8, 8, 3], 8, 4),
    steps: 40,
    seed: 1,
    lr: 3e-3,
    advWeight: 0,
  });
  const first = r.history.l1.slice(0, 5).reduce((a, b) => a + b) / 5;
  const last = r.history.l1.slice(-5).reduce((a, b) => a + b) / 5;
  assert(last < 0.6 * first, `L1 ${first.toFixed(4)} -> ${last.toFixed(4)}`);
  tf.disposeVariables();
});

Deno.test("code noise: code + scale * per-channel batch std * eps, with no gradient through std", () => {
  // Two channels over 2 samples x 1 x 2 positions: channel 0 = [1, 3, 5, 7] (std sqrt(5)),
  // channel 1 = [2, 2, 2, 2] (std 0, kept at sqrt(1e-12)).
  const code = tf.tensor4d([1, 2, 3, 2, 5, 2, 7, 2], [2, 1, 2, 2]);
  const eps = tf.tensor1d([1, 1, -1, 1, 0.5, 1, 2, 1]);
  const s = Math.sqrt(5);
  const out = withCodeNoise(code, eps, 0.1).dataSync();
  assertAllClose(out, [1 + 0.1 * s, 2, 3 - 0.1 * s, 2, 5 + 0.05 * s, 2, 7 + 0.2 * s, 2], {
    rtol: 1e-5,
  });
  // The std is data: d(sum out)/d code = 1 everywhere (through std it would not be).
  const g = tf.grad((c: tf.Tensor) => tf.sum(withCodeNoise(c as tf.Tensor4D, eps, 0.1)))(code);
  assertAllClose(g.dataSync(), new Array(8).fill(1), { rtol: 1e-6 });
  tf.dispose([code, eps, g]);
});

Deno.test("autoencoder: code noise is seeded (two runs agree) and reaches the loss from the first step", async () => {
  const run = (steps: number, codeNoise?: number) =>
    trainAutoencoder({
      config: { factor: 2, latentChannels: 4, width: 8 },
      data: blobs([8, 8, 3], 8, 4),
      steps,
      seed: 1,
      lr: 3e-3,
      advWeight: 0,
      codeNoise,
    });
  const a = await run(3, 0.3), b = await run(3, 0.3);
  assertAllClose(a.history.l1, b.history.l1, { rtol: 0 });
  const plain = await run(1);
  // The first step's loss already sees the noise.
  assert(a.history.l1[0] !== plain.history.l1[0], "code noise changed nothing");
  tf.disposeVariables();
});

Deno.test("autoencoder: lrRampdown keeps step 0's rate and changes the later steps' updates", async () => {
  const run = (steps: number, lrRampdown: number) =>
    trainAutoencoder({
      config: { factor: 2, latentChannels: 4, width: 8 },
      data: blobs([8, 8, 3], 8, 4),
      steps,
      seed: 1,
      lrRampdown,
    });
  const w = (r: Awaited<ReturnType<typeof run>>) => {
    const arrays = r.params.toArrays();
    return arrays[Object.keys(arrays)[0]].data;
  };
  assertEquals(w(await run(1, 0)), w(await run(1, 1)));
  assertNotEquals(w(await run(3, 0)), w(await run(3, 1)));
  tf.disposeVariables();
});
