import * as tf from "@tensorflow/tfjs";
import { assert } from "../tests/assert.ts";
import { initBackend } from "../backend/mod.ts";
import { blobs } from "../tests/blob_batches.ts";
import { trainAutoencoder } from "./autoencoder.ts";

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
