import * as tf from "@tensorflow/tfjs";
import { assertAllClose, assertEquals, assertRejects, assertThrows } from "../tests/assert.ts";
import { initBackend } from "../backend/mod.ts";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import { decode } from "./autoencoder.ts";
import { type GanConfig, generate, sampleLatents } from "./gan.ts";
import { slimConfigOf } from "./slim_decoder.ts";
import {
  type GeneratorMeta,
  parseGeneratorMeta,
  TrainedGenerator,
  writeGeneratorFile,
} from "./trained_generator.ts";

await initBackend("cpu");

const pixelConfig: GanConfig = { shape: [8, 8, 3], zDim: 4, baseChannels: 16, tanh: true };

Deno.test("parseGeneratorMeta keeps every field and refuses a wrong one by name", () => {
  const meta = {
    config: {
      ...pixelConfig,
      arch: "progan",
      maxChannels: 32,
      zModes: 3,
      modeWeights: [0.5, 0.25, 0.25],
      conditionD: true,
    },
    space: "latent",
    codeStats: { mean: [0.5], std: [2] },
    step: 250,
    phase: { level: 1, alpha: 0.25 },
  };
  assertEquals(parseGeneratorMeta(meta, "g.gft"), meta as GeneratorMeta);
  assertEquals(parseGeneratorMeta({ config: pixelConfig, space: "pixel", codeStats: null }, "g"), {
    config: pixelConfig,
    space: "pixel",
    codeStats: null,
  });
  assertThrows(
    () => parseGeneratorMeta({ ...meta, config: { ...pixelConfig, arch: "stylegan" } }, "g.gft"),
    'g.gft config: metadata field "arch" should be one of dcgan, progan, fastgan',
  );
  assertThrows(() => parseGeneratorMeta({ ...meta, codeStats: null }, "g.gft"), '"codeStats"');
});

// With modes, sampling must draw them with the file's weights, as training did.
const withModes: GanConfig = { ...pixelConfig, zModes: 3, modeWeights: [0.2, 0.8, 0] };
for (const config of [pixelConfig, withModes]) {
  Deno.test(`a pixel generator samples what generate() gives for the same latents (${config.zModes ?? 0} modes)`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const g = new Params(new Rng(3));
      const direct = tf.tidy(() => generate(g, config, sampleLatents(new Rng(7), 5, config)));
      const path = `${dir}/g.gft`;
      await writeGeneratorFile(path, g.toArrays("E/"), { config, space: "pixel", codeStats: null });
      const gen = await TrainedGenerator.load(path);
      assertEquals(gen.meta.config, config);
      // Two batches (3 + 2) draw the same latents as one batch of 5.
      const all = await gen.sampleAll(5, 7, 3);
      assertEquals(all.shape, [8, 8, 3]);
      assertAllClose(all.data, direct.dataSync(), { atol: 1e-6 });
      gen.dispose();
      g.dispose();
      direct.dispose();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("a latent generator's samples are its codes de-normalised and decoded", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const aeConfig = { factor: 2, latentChannels: 2, width: 4 };
    const ae = new Params(new Rng(5));
    tf.tidy(() => decode(ae, aeConfig, tf.zeros([1, 4, 4, 2]))); // builds the decoder's weights
    const codeConfig: GanConfig = { shape: [4, 4, 2], zDim: 3, baseChannels: 16, tanh: false };
    const g = new Params(new Rng(6));
    const stats = { mean: [0.5, -1], std: [2, 0.25] };
    // The reference: tfjs ops through the autoencoder's own decode (not the compiled chain).
    const expected = tf.tidy(() => {
      const codes = generate(g, codeConfig, sampleLatents(new Rng(8), 2, { zDim: 3 }));
      return decode(ae, aeConfig, tf.add(tf.mul(codes, stats.std), stats.mean) as tf.Tensor4D);
    });
    const path = `${dir}/g.gft`;
    await writeGeneratorFile(path, g.toArrays("E/"), {
      config: codeConfig,
      space: "latent",
      codeStats: stats,
    });
    await assertRejects(() => TrainedGenerator.load(path), "needs the autoencoder's decoder");
    const gen = await TrainedGenerator.load(path, {
      arrays: ae.toArrays(),
      config: slimConfigOf(aeConfig),
    });
    const got = gen.sample(new Rng(8), 2);
    assertEquals(got.shape, [2, 8, 8, 3]);
    assertAllClose(got.dataSync(), expected.dataSync(), { atol: 1e-5 });
    tf.dispose([got, expected]);
    gen.dispose();
    g.dispose();
    ae.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
