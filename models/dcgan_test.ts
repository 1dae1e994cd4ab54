import * as tf from "@tensorflow/tfjs";
import { assert, assertAllClose, assertThrows } from "../tests/assert.ts";
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

Deno.test("a mode-conditioned D adds <mean features, embedding of the mode>: zero, and d.fc's own", () => {
  const cond: GanConfig = { ...cfg, zModes: 3, conditionD: true };
  const p = new Params(new Rng(5));
  const x = tf.tensor4d(new Rng(6).normalArray(4 * 8 * 8 * 2), [4, 8, 8, 2]);
  const modes = tf.oneHot(tf.tensor1d([0, 2, 1, 2], "int32"), 3).toFloat() as tf.Tensor2D;
  const plain = Array.from(dcganD(p, cfg, x).dataSync());
  dcganD(p, cond, x, false, modes); // creates d.embed: D's last features are 4x4x16
  const embed = p.get("d.embed", [3, 16], { kind: "const", value: 0 });
  // A zero embedding: the unconditioned logits.
  embed.assign(tf.zeros(embed.shape));
  assertAllClose(dcganD(p, cond, x, false, modes).dataSync(), plain, { rtol: 1e-5 });
  // d.fc's weights the same v / 16 at each of the 16 positions make fc - bias = <mean features,
  // v>; with mode 2's embedding v, mode-2 logits become 2 fc - bias, the others stay fc.
  const v = Float32Array.from(new Rng(8).normalArray(16));
  const w = p.get("d.fc.w", [256, 1], { kind: "const", value: 0 });
  w.assign(tf.tensor2d(Float32Array.from({ length: 256 }, (_, i) => v[i % 16] / 16), [256, 1]));
  p.get("d.fc.b", [1], { kind: "const", value: 0 }).assign(tf.tensor1d([0.25]));
  const base = Array.from(dcganD(p, cfg, x).dataSync());
  embed.assign(tf.concat([tf.zeros([2, 16]), tf.tensor2d(v, [1, 16])]));
  const expected = base.map((y, i) => ([1, 3].includes(i) ? 2 * y - 0.25 : y));
  assertAllClose(dcganD(p, cond, x, false, modes).dataSync(), expected, { rtol: 1e-5, atol: 1e-6 });
  assertThrows(() => dcganD(p, cond, x), "needs each sample's mode");
  tf.disposeVariables();
});
