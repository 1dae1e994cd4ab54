import * as tf from "@tensorflow/tfjs";
import { assert, assertAllClose, assertThrows } from "../tests/assert.ts";
import { initBackend } from "../backend/mod.ts";
import { createGan } from "./gan.ts";
import { discriminate, type GanConfig, generate, sampleLatents } from "../models/gan.ts";
import { Rng } from "../nn/rng.ts";
import {
  discriminatorGrads,
  generatorGrads,
  oneStageGrads,
  type StepBatch,
  type StepNets,
  type StepOptions,
} from "./gan_step.ts";
import { GAN_LOSSES } from "./losses.ts";

await initBackend("cpu");

function setup(cfg: GanConfig) {
  const model = createGan(cfg, 7);
  const nets: StepNets = {
    g: model.g,
    d: model.d,
    G: (z) => generate(model.g, cfg, z),
    D: (x) => discriminate(model.d, cfg, x),
  };
  // The same D from lean layers, which D's own step and one-stage training use without a penalty.
  const lean: StepNets = { ...nets, DLean: (x) => discriminate(model.d, cfg, x, { lean: true }) };
  const rng = new Rng(11);
  const n = 4;
  const [h, w, c] = cfg.shape;
  const z = sampleLatents(rng, n, cfg);
  const batch: StepBatch = {
    real: tf.tensor4d(rng.normalArray(n * h * w * c, 0.5), [n, h, w, c]),
    z1: z,
    z2: z,
    eps: tf.tensor1d(rng.uniformArray(n)),
  };
  return { model, nets, lean, batch };
}

/**
 * One-stage gradients (lean D where allowed) vs the two-stage gradients computed separately from
 * the same weights with the standard layers.
 */
function compare(cfg: GanConfig, o: StepOptions) {
  const { model, nets, lean, batch } = setup(cfg);
  const dRef = discriminatorGrads(nets, batch, o);
  const gRef = generatorGrads(nets, batch.z1, o);
  const one = oneStageGrads(lean, batch, o);
  assertAllClose(one.value.dataSync(), dRef.value.dataSync(), { rtol: 1e-5, msg: "L_D" });
  assertAllClose([one.gValue], gRef.value.dataSync(), { rtol: 1e-5, msg: "L_G" });
  let checked = 0;
  for (const [store, ref] of [[model.d, dRef], [model.g, gRef]] as const) {
    for (const v of store.list()) {
      if (!ref.grads[v.name]) {
        // Unused at this phase (ProGAN's lower-resolution toRGB/fromRGB): unused in both.
        assert(!one.grads[v.name], `${v.name}: one-stage has a gradient the reference lacks`);
        continue;
      }
      const expected = ref.grads[v.name].dataSync();
      const scale = Math.max(...expected.map(Math.abs));
      assert(scale > 0, `${v.name} has a zero reference gradient`);
      assertAllClose(one.grads[v.name].dataSync(), expected, {
        rtol: 1e-5,
        atol: 1e-5 * scale,
        msg: `${o.loss.name}: ${v.name}`,
      });
      checked++;
    }
  }
  assert(checked >= model.d.list().length + model.g.list().length - 4, `checked ${checked}`);
  tf.disposeVariables();
}

const tiny: GanConfig = { shape: [8, 8, 3], zDim: 8, baseChannels: 16, minChannels: 8, tanh: true };

Deno.test("D's step from lean layers gives the standard layers' loss and gradients", () => {
  for (const cfg of [tiny, { ...tiny, separableD: true }]) {
    const { model, nets, lean, batch } = setup(cfg);
    const o = { loss: GAN_LOSSES.logistic };
    const ref = discriminatorGrads(nets, batch, o);
    const got = discriminatorGrads(lean, batch, o);
    assertAllClose(got.value.dataSync(), ref.value.dataSync(), { rtol: 1e-5 });
    const names = model.d.list().map((v) => v.name);
    assert(names.length >= 8 && names.every((n) => ref.grads[n] && got.grads[n]), "every D weight");
    for (const n of names) {
      const expected = ref.grads[n].dataSync();
      const scale = Math.max(...expected.map(Math.abs));
      assertAllClose(got.grads[n].dataSync(), expected, { rtol: 1e-5, atol: 1e-5 * scale, msg: n });
    }
    tf.disposeVariables();
  }
});

Deno.test("one-stage gradients equal two-stage gradients: logistic (non-saturating) loss", () => {
  compare(tiny, { loss: GAN_LOSSES.logistic });
});

Deno.test("one-stage gradients equal two-stage gradients: Wasserstein loss with gradient penalty", () => {
  compare({ ...tiny, arch: "progan" }, {
    loss: GAN_LOSSES.wgan,
    reg: { gpLambda: 10, drift: 1e-3 },
  });
});

Deno.test("one-stage training refuses the hinge loss and says what to use instead", () => {
  const { nets, batch } = setup(tiny);
  assertThrows(() => oneStageGrads(nets, batch, { loss: GAN_LOSSES.hinge }), /two-stage/);
  tf.disposeVariables();
});

Deno.test("logistic gamma is -exp(-p): the ratio of the G and D loss slopes", () => {
  const p = Float32Array.of(-2, 0, 0.5, 3);
  const gamma = GAN_LOSSES.logistic.gamma!(p);
  // dL_D/dp = sigmoid(p), dL_G/dp = -sigmoid(-p) (per sample, before the 1/N of the mean).
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  assertAllClose(gamma, [...p].map((v) => -sig(-v) / sig(v)), { rtol: 1e-6 });
});

Deno.test("top-k: G's gradient is the gradient over the k samples D rates most real, alone", () => {
  // D without mbstd: each sample's logit is its own, so the chosen samples can be run alone.
  const { model, nets } = setup(tiny);
  const n = 8, k = 3;
  const z = sampleLatents(new Rng(5), n, tiny);
  const logits = Array.from(nets.D(nets.G(z)).dataSync());
  const top = logits.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).slice(0, k).map((e) => e[1]);
  const zTop = tf.gather(z, top);
  const o = { loss: GAN_LOSSES.logistic };
  const ref = generatorGrads(nets, zTop, o);
  const got = generatorGrads(nets, z, { ...o, gTopK: k });
  const all = generatorGrads(nets, z, o);
  assertAllClose(got.value.dataSync(), ref.value.dataSync(), { rtol: 1e-5, msg: "L_G" });
  let differs = false;
  for (const v of model.g.list()) {
    const expected = ref.grads[v.name].dataSync();
    const scale = Math.max(...expected.map(Math.abs));
    assertAllClose(got.grads[v.name].dataSync(), expected, { rtol: 1e-4, atol: 1e-5 * scale });
    differs ||= Math.abs(all.grads[v.name].dataSync()[0] - expected[0]) > 1e-3 * scale;
  }
  assert(differs, "the whole batch's gradient should differ from the top k's");
  // k at or above the batch is the whole batch.
  const full = generatorGrads(nets, z, { ...o, gTopK: n });
  assertAllClose(full.value.dataSync(), all.value.dataSync(), { rtol: 1e-6 });
  tf.disposeVariables();
});
