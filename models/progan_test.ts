import * as tf from "@tensorflow/tfjs";
import { assert, assertAllClose, assertEquals } from "../tests/assert.ts";
import { initBackend } from "../backend/mod.ts";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import { channelsAt, type GanConfig } from "./gan_config.ts";
import { minibatchStddev, proganD, proganG, realsAtPhase } from "./progan.ts";
import { downsample2x } from "./layers.ts";
import { upsample2x } from "./upsample.ts";

await initBackend("cpu");

const cfg: GanConfig = {
  shape: [16, 16, 3],
  zDim: 8,
  baseChannels: 32,
  minChannels: 8,
  tanh: false,
  arch: "progan",
};

function nets() {
  const rng = new Rng(3);
  const g = new Params(rng.fork()), d = new Params(rng.fork());
  for (let level = 0; level <= 2; level++) {
    tf.tidy(() => {
      const x = proganG(g, cfg, tf.zeros([4, 8]), { level, alpha: 0.5 });
      proganD(d, cfg, x, { level, alpha: 0.5 });
    });
  }
  const z = tf.tensor2d(rng.normalArray(4 * 8), [4, 8]);
  const x = tf.tensor4d(rng.normalArray(4 * 16 * 16 * 3), [4, 16, 16, 3]);
  return { g, d, z, x };
}

Deno.test("ProGAN G fade-in: alpha 0 is the lower resolution upsampled, alpha 1 the new block", () => {
  const { g, z } = nets();
  const lower = proganG(g, cfg, z, { level: 1, alpha: 1 });
  const at0 = proganG(g, cfg, z, { level: 2, alpha: 0 });
  assertAllClose(at0.dataSync(), upsample2x(lower).dataSync(), { rtol: 1e-6 });
  // alpha 1 uses only the new block: changing the old toRGB changes nothing...
  const at1 = proganG(g, cfg, z, { level: 2, alpha: 1 }).dataSync();
  const old = g.vars.get("g.rgb1.w")!;
  const saved = old.clone();
  old.assign(tf.mul(old, 3));
  assertAllClose(proganG(g, cfg, z, { level: 2, alpha: 1 }).dataSync(), at1, { rtol: 1e-6 });
  old.assign(saved);
  // ...and in between the output is the linear blend of the two.
  const mid = proganG(g, cfg, z, { level: 2, alpha: 0.25 }).dataSync();
  const expected = at0.dataSync().map((a, i) => a + (at1[i] - a) * 0.25);
  assertAllClose(mid, expected, { rtol: 1e-5, atol: 1e-6 });
  tf.disposeVariables();
});

Deno.test("ProGAN D fade-in: alpha 0 judges the downsampled image with the lower-resolution D", () => {
  const { d, x } = nets();
  const at0 = proganD(d, cfg, x, { level: 2, alpha: 0 });
  const lower = proganD(d, cfg, downsample2x(x), { level: 1, alpha: 1 });
  assertAllClose(at0.dataSync(), lower.dataSync(), { rtol: 1e-5 });
  const at1 = proganD(d, cfg, x, { level: 2, alpha: 1 });
  assert(Math.abs(at1.dataSync()[0] - at0.dataSync()[0]) > 1e-4, "alpha 1 uses the new block");
  tf.disposeVariables();
});

Deno.test("minibatch stddev appends the group std averaged over features (hand-computed)", () => {
  // 4 samples of 1x1x2 features, groups of 2: sample n pairs with n + 2 (ProGAN's reshape).
  const x = tf.tensor4d([1, 2, 3, 6, 5, 2, 7, 10], [4, 1, 1, 2]);
  const y = minibatchStddev(x, 2).dataSync();
  // Pair (0, 2): features (1, 5) and (2, 2): population std 2 and 0 -> mean 1.
  // Pair (1, 3): features (3, 7) and (6, 10): std 2 and 2 -> mean 2.
  const expected = [1, 2, 1, 3, 6, 2, 5, 2, 1, 7, 10, 2];
  assertAllClose(y, expected, { rtol: 1e-6, atol: 1e-4 });
});

Deno.test("channel widths follow ProGAN's nf(): min(fmap_base / 2^stage, fmap_max)", () => {
  // ProGAN (fmap_base 8192, fmap_max 512) at 4..64: 512, 512, 512, 512, 256; ours counts from
  // 4x4, so its base is fmap_base / 2 with the same cap.
  const progan: GanConfig = { ...cfg, shape: [64, 64, 3], baseChannels: 4096, maxChannels: 512 };
  assertEquals([0, 1, 2, 3, 4].map((b) => channelsAt(progan, b)), [512, 512, 512, 512, 256]);
  // Without a cap: halved from the base, not below the minimum.
  assertEquals([0, 1, 2, 3].map((b) => channelsAt(cfg, b)), [32, 16, 8, 8]);
});

Deno.test("reals at a phase: one-pass box downsampling equals repeated halvings, faded like G", () => {
  const rng = new Rng(5);
  const x = tf.tensor4d(rng.normalArray(2 * 16 * 16 * 3), [2, 16, 16, 3]);
  const halved = downsample2x(downsample2x(x));
  assertAllClose(realsAtPhase(x, 2, { level: 0, alpha: 1 }).dataSync(), halved.dataSync(), {
    atol: 1e-6,
  });
  // Mid-fade at 8x8: lerp(upsampled 4x4, 8x8, alpha).
  const at8 = downsample2x(x);
  const faded = tf.add(
    tf.mul(upsample2x(downsample2x(at8)), 0.25),
    tf.mul(at8, 0.75),
  );
  assertAllClose(realsAtPhase(x, 2, { level: 1, alpha: 0.75 }).dataSync(), faded.dataSync(), {
    atol: 1e-6,
  });
});
