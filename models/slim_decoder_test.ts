import * as tf from "@tensorflow/tfjs";
import { assert, assertAllClose, assertEquals, assertThrows } from "../tests/assert.ts";
import { initBackend, oneDnnAvailable } from "../backend/mod.ts";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import type { NamedArray } from "../nn/tensor_file.ts";
import { decode } from "./autoencoder.ts";
import {
  chainChannelCosts,
  channelCosts,
  decoderCost,
  hiddenLayers,
  pruneDecoder,
  slimChain,
  slimConfigOf,
  slimDecode,
  type SlimDecoderConfig,
} from "./slim_decoder.ts";

await initBackend("cpu");

interface Fixture {
  config: SlimDecoderConfig;
  threshold: number;
  weights: Record<string, { w: number[]; wShape: number[]; b: number[] }>;
  scales: Record<string, number[]>;
  z: number[];
  zShape: [number, number, number, number];
  outScaled: number[];
  outMasked: number[];
  outPruned: number[];
  outShape: number[];
  keep: number[][];
  pruned: Record<string, { w: number[]; wShape: number[]; b: number[] }>;
}

const fx: Fixture = JSON.parse(
  await Deno.readTextFile(
    new URL("../tests/fixtures/compress/slim_decoder.json", import.meta.url),
  ),
);

function arraysOf(ws: Fixture["weights"]): Record<string, NamedArray> {
  const out: Record<string, NamedArray> = {};
  for (const [n, { w, wShape, b }] of Object.entries(ws)) {
    out[`${n}.w`] = { shape: wShape, data: Float32Array.from(w) };
    out[`${n}.b`] = { shape: [b.length], data: Float32Array.from(b) };
  }
  return out;
}

function scaleStore(scales: Record<string, number[]>): Params {
  const s = new Params(new Rng(0), false);
  s.loadArrays(
    Object.fromEntries(
      Object.entries(scales).map((
        [n, v],
      ) => [`${n}.s`, { shape: [v.length], data: Float32Array.from(v) }]),
    ),
  );
  return s;
}

function run(p: Params, cfg: SlimDecoderConfig, scales?: Params): Float32Array {
  const out = slimDecode(p, cfg, tf.tensor4d(fx.z, fx.zShape), { scales });
  assertEquals(out.shape, fx.outShape as typeof out.shape);
  const d = out.dataSync() as Float32Array;
  out.dispose();
  return d;
}

Deno.test("slim decoder: forward with per-channel scales matches PyTorch", () => {
  const p = new Params(new Rng(0), false);
  p.loadArrays(arraysOf(fx.weights));
  const s = scaleStore(fx.scales);
  assertAllClose(run(p, fx.config, s), fx.outScaled, { atol: 1e-5, rtol: 1e-4 });
  p.dispose();
  s.dispose();
});

Deno.test("prune: near-zero channels removed = masked network (1e-5); tensors really shrink", () => {
  const full = arraysOf(fx.weights);
  const names = hiddenLayers(fx.config.levels);
  const scales = names.map((n) => Float32Array.from(fx.scales[n]));
  const keep = scales.map((s) => [...s.keys()].filter((c) => Math.abs(s[c]) >= fx.threshold));
  assertEquals(keep, fx.keep);
  const pruned = pruneDecoder(full, fx.config, keep, scales);
  // The folded, gathered weights are PyTorch's index_select of the same tensors.
  for (const [n, { w, wShape, b }] of Object.entries(fx.pruned)) {
    assertEquals(pruned.arrays[`${n}.w`].shape, wShape, n);
    assertAllClose(pruned.arrays[`${n}.w`].data, w, { atol: 1e-6, msg: n });
    assertAllClose(pruned.arrays[`${n}.b`].data, b, { atol: 1e-6, msg: n });
  }
  // Channel counts and weight sizes drop: 19 -> 13 hidden channels.
  assertEquals(pruned.config.channels, [3, 3, 3, 3, 2]);
  const size = (a: Record<string, NamedArray>) =>
    Object.values(a).reduce((t, x) => t + x.data.length, 0);
  assert(size(pruned.arrays) < size(full), `${size(pruned.arrays)} vs ${size(full)}`);
  assertEquals(pruned.arrays["dec.up2.w"].shape, [3, 3, 3, 3]);
  assertEquals(pruned.arrays["dec.out.w"].shape, [3, 3, 2, 3]);

  // Masked network: the same full-size weights with the dropped scales set to exactly 0.
  const masked = Object.fromEntries(
    names.map((n, i) => [n, scales[i].map((v, c) => keep[i].includes(c) ? v : 0)]),
  );
  const pFull = new Params(new Rng(0), false);
  pFull.loadArrays(full);
  const sMasked = scaleStore(
    Object.fromEntries(Object.entries(masked).map(([n, v]) => [n, [...v]])),
  );
  const outMasked = run(pFull, fx.config, sMasked);
  const pSmall = new Params(new Rng(0), false);
  pSmall.loadArrays(pruned.arrays);
  const outPruned = run(pSmall, pruned.config);
  assertAllClose(outPruned, outMasked, { atol: 1e-5, rtol: 0 });
  assertAllClose(outMasked, fx.outMasked, { atol: 1e-5, rtol: 1e-4 });
  assertAllClose(outPruned, fx.outPruned, { atol: 1e-5, rtol: 1e-4 });
  // And the masked output really differs from the unpruned one (the test can fail).
  const unmasked = run(pFull, fx.config);
  assert(unmasked.some((v, i) => Math.abs(v - outMasked[i]) > 1e-2));
  assertEquals(pSmall.count(), decoderCost(pruned.config, 2, 3).params);
  for (const x of [pFull, pSmall, sMasked]) x.dispose();
});

Deno.test("prune: rejects empty or unordered keep lists", () => {
  const full = arraysOf(fx.weights);
  const keep = fx.keep.map((k) => [...k]);
  keep[1] = [];
  assertThrows(() => pruneDecoder(full, fx.config, keep), "keep no channel");
  keep[1] = [2, 1];
  assertThrows(() => pruneDecoder(full, fx.config, keep), "ascending");
});

Deno.test("slim decoder at full width is the autoencoder's decode()", () => {
  const aeCfg = { factor: 4, latentChannels: 3, width: 4, maxWidth: 12 };
  const p = new Params(new Rng(3), false);
  const z = tf.tensor4d(new Rng(4).normalArray(2 * 3 * 2 * 3), [2, 3, 2, 3]);
  const ref = decode(p, aeCfg, z); // creates the dec.* weights
  const cfg = slimConfigOf(aeCfg);
  assertEquals(cfg.channels, [12, 8, 8, 4, 4]);
  const before = p.count();
  const out = slimDecode(p, cfg, z);
  assertEquals(p.count(), before, "the slim forward created no new weights");
  assertAllClose(out.dataSync(), ref.dataSync(), { atol: 1e-6 });
  tf.dispose([z, ref, out]);
  p.dispose();
});

Deno.test("decoderCost: parameters and FLOPs match a hand count on a tiny config", () => {
  // latent 2 -> dec.in 3 ch (2x2) -> up 2 ch (4x4) -> conv 1 ch (4x4) -> out 3 ch (4x4).
  const cfg: SlimDecoderConfig = {
    latentChannels: 2,
    imageChannels: 3,
    levels: 1,
    channels: [3, 2, 1],
  };
  const c = decoderCost(cfg, 2, 2), c0 = c.flops;
  // params 9*Cin*Cout + Cout: 9*2*3+3 = 57, 9*3*2+2 = 56, 9*2*1+1 = 19, 9*1*3+3 = 30.
  assertEquals(c.layers.map((l) => l.params), [57, 56, 19, 30]);
  assertEquals(c.params, 162);
  // FLOPs 2*9*Cin*Cout*H*W + H*W*Cout: 432+12 = 444, 1728+32 = 1760, 576+16 = 592, 864+48 = 912.
  assertEquals(c.layers.map((l) => l.flops), [444, 1760, 592, 912]);
  assertEquals(c.flops, 3708);
  // What one channel of each hidden conv costs: its own filter + bias, and the next conv's slice.
  // dec.in: 2*9*2*4 + 4 + 2*9*2*16 = 724; dec.up1: 2*9*3*16 + 16 + 2*9*1*16 = 1168;
  // dec.conv1: 2*9*2*16 + 16 + 2*9*3*16 = 1456.
  assertEquals(channelCosts(cfg, 2, 2), [724, 1168, 1456]);
  // As the compiled chain runs it on 4-wide vectors: output channels padded to 4; dec.up1 as two
  // phase convs at 2x2 (6 taps, 2 * Cout outputs). Per input channel: dec.in 9*4*4 = 144,
  // dec.up1 2*6*pad(4)*4 = 192, dec.conv1 9*pad(1)*16 = 576, dec.out 9*pad(3)*16 = 576.
  // Channel cost = own conv per output channel + next conv per input channel:
  // dec.in 144*2/3 + 192 = 288, dec.up1 192*3/2 + 576 = 864, dec.conv1 576*2/1 + 576 = 1728.
  assertEquals(chainChannelCosts(cfg, 2, 2, 4), [288, 864, 1728]);
  // ... which is what removing that channel saves.
  cfg.channels.forEach((c, i) => {
    const fewer = { ...cfg, channels: cfg.channels.map((x, j) => (j === i ? x - 1 : x)) };
    if (c > 1) assertEquals(c0 - decoderCost(fewer, 2, 2).flops, channelCosts(cfg, 2, 2)[i]);
  });
  // The parameter count is what the forward actually allocates.
  const p = new Params(new Rng(1), false);
  slimDecode(p, cfg, tf.zeros([1, 2, 2, 2])).dispose();
  assertEquals(p.count(), 162);
  p.dispose();
});

Deno.test("slimChain (compiled for inference) decodes as slimDecode on the cpu backend", async () => {
  const cfg: SlimDecoderConfig = {
    latentChannels: 4,
    imageChannels: 3,
    levels: 2,
    channels: [9, 5, 7, 3, 6],
  };
  const p = new Params(new Rng(3), false);
  const z = tf.tensor4d(new Rng(4).normalArray(2 * 3 * 5 * 4), [2, 3, 5, 4]);
  // Random biases too (they start at 0), so a missing bias would show.
  tf.tidy(() => slimDecode(p, cfg, z));
  const arrays = p.toArrays();
  for (const [k, v] of Object.entries(arrays)) {
    if (k.endsWith(".b")) arrays[k] = { shape: v.shape, data: new Rng(5).normalArray(v.shape[0]) };
  }
  p.loadArrays(arrays);
  const want = tf.tidy(() => slimDecode(p, cfg, z).dataSync() as Float32Array);
  const usable = oneDnnAvailable() ? ["onednn", "cpu"] as const : ["cpu"] as const;
  for (const b of usable) {
    await initBackend(b);
    const runner = slimChain(arrays, cfg);
    const got = runner.run(z);
    assertEquals(got.shape, [2, 12, 20, 3]);
    assertAllClose(got.dataSync() as Float32Array, want, { rtol: 1e-4, atol: 1e-5 });
    got.dispose();
    runner.dispose();
  }
  await initBackend("cpu");
  z.dispose();
  p.dispose();
});
