import * as tf from "@tensorflow/tfjs";
import { assert } from "../tests/assert.ts";
import { initBackend } from "../backend/mod.ts";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import { dcganD } from "./dcgan.ts";
import type { GanConfig } from "./gan_config.ts";

await initBackend("cpu");

const cfg: GanConfig = { shape: [8, 8, 2], zDim: 4, baseChannels: 16, tanh: false };

/** D's logit of sample 0 alone in a batch of 4 whose other samples are `others`. */
function logitOfFirst(p: Params, c: GanConfig, others: number): number {
  const rng = new Rng(3);
  const first = rng.normalArray(8 * 8 * 2);
  const rest = new Rng(others).normalArray(3 * 8 * 8 * 2, 2);
  const x = tf.tensor4d([...first, ...rest], [4, 8, 8, 2]);
  const out = dcganD(p, c, x).dataSync()[0];
  x.dispose();
  return out;
}

Deno.test("dcgan D with mbstd: a sample's logit depends on its batch; without, it does not", () => {
  const plain = new Params(new Rng(1));
  const a = logitOfFirst(plain, cfg, 5), b = logitOfFirst(plain, cfg, 6);
  assert(Math.abs(a - b) < 1e-5, `without mbstd the batch changed the logit: ${a} vs ${b}`);
  const withStd = new Params(new Rng(1));
  const c = logitOfFirst(withStd, { ...cfg, mbstd: true }, 5);
  const d = logitOfFirst(withStd, { ...cfg, mbstd: true }, 6);
  assert(Math.abs(c - d) > 1e-4, `with mbstd the batch changed nothing: ${c} vs ${d}`);
  // One more input channel for the 4x4 conv: 3 * 3 * 1 * 16 more weights.
  assert(withStd.count() - plain.count() === 9 * 16, `${withStd.count()} vs ${plain.count()}`);
  plain.dispose();
  withStd.dispose();
});
