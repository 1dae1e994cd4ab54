/**
 * The autoencoder's decoder (models/autoencoder.ts `decode`) with an arbitrary number of channels
 * per hidden conv, for channel pruning ("Towards Device Efficient Conditional Image Generation",
 * 2022: condense, prune, distill). Same weight names (`dec.in`, `dec.up<l>`, `dec.conv<l>`,
 * `dec.out`, HWIO filters), so a trained autoencoder's `dec.*` weights load unchanged and give
 * exactly `decode()`. Optionally a per-channel scale `<layer>.s` multiplies each hidden conv's
 * output before its leaky ReLU: that is the knob the L1 penalty shrinks, and because it sits
 * before the activation it folds exactly into the conv (s * (W x + b) = (sW) x + sb).
 */
import * as tf from "@tensorflow/tfjs";
import type { Params } from "../nn/params.ts";
import type { NamedArray } from "../nn/tensor_file.ts";
import { type AutoencoderConfig, levels } from "./autoencoder.ts";
import type { ChainConv } from "../backend/inference/conv_chain.ts";
import { ChainRunner } from "../backend/inference/chain_runner.ts";
import { conv2d, lrelu, LRELU_SLOPE } from "./layers.ts";
import { upsample2x } from "./upsample.ts";

export interface SlimDecoderConfig {
  latentChannels: number;
  imageChannels: number;
  /** Number of 2x upsamplings (log2 of the autoencoder's factor). */
  levels: number;
  /** Output channels of each hidden conv, in `hiddenLayers(levels)` order (2 * levels + 1). */
  channels: number[];
}

/** Hidden conv names in forward order: dec.in, dec.up<L>, dec.conv<L>, ..., dec.up1, dec.conv1. */
export function hiddenLayers(levelCount: number): string[] {
  const out = ["dec.in"];
  for (let l = levelCount; l >= 1; l--) out.push(`dec.up${l}`, `dec.conv${l}`);
  return out;
}

/** The full-width slim config equal to the autoencoder's decoder. */
export function slimConfigOf(cfg: AutoencoderConfig): SlimDecoderConfig {
  const L = levels(cfg);
  const width = (l: number) => Math.min(cfg.maxWidth ?? 256, cfg.width * 2 ** l);
  const channels = [width(L)];
  for (let l = L; l >= 1; l--) channels.push(width(l - 1), width(l - 1));
  return {
    latentChannels: cfg.latentChannels,
    imageChannels: cfg.imageChannels ?? 3,
    levels: L,
    channels,
  };
}

function checkConfig(cfg: SlimDecoderConfig): string[] {
  const names = hiddenLayers(cfg.levels);
  if (cfg.channels.length !== names.length) {
    throw new Error(
      `slim decoder: ${cfg.channels.length} channel counts for ${names.length} hidden convs`,
    );
  }
  if (cfg.channels.some((c) => !Number.isInteger(c) || c < 1)) {
    throw new Error(
      `slim decoder: channel counts must be positive integers, got [${cfg.channels}]`,
    );
  }
  return names;
}

/**
 * The decoder forward, outside any tidy (callers take gradients through it). `scales` multiplies
 * each hidden conv's output by its `<layer>.s` from that store (created at 1; a store of its own
 * so the scales can get their own optimizer). Returns the image and the hidden activations
 * (after the leaky ReLU) that feature distillation matches.
 */
export function slimForward(
  p: Params,
  cfg: SlimDecoderConfig,
  z: tf.Tensor4D,
  opts: { scales?: Params } = {},
): { out: tf.Tensor4D; features: tf.Tensor4D[] } {
  const names = checkConfig(cfg);
  const features: tf.Tensor4D[] = [];
  let h = z;
  names.forEach((name, i) => {
    if (name.startsWith("dec.up")) h = upsample2x(h);
    if (opts.scales) {
      const y = conv2d(p, name, h, cfg.channels[i]);
      const s = opts.scales.get(`${name}.s`, [cfg.channels[i]], { kind: "const", value: 1 });
      h = lrelu(tf.mul(y, s));
    } else {
      h = conv2d(p, name, h, cfg.channels[i], { lrelu: true });
    }
    features.push(h);
  });
  const out = conv2d(p, "dec.out", h, cfg.imageChannels, { gain: 1 });
  return { out, features };
}

export function slimDecode(
  p: Params,
  cfg: SlimDecoderConfig,
  z: tf.Tensor4D,
  opts: { scales?: Params } = {},
): tf.Tensor4D {
  return tf.tidy(() => slimForward(p, cfg, z, opts).out);
}

/**
 * The decoder as a conv chain (backend/inference/conv_chain.ts): the same function as `slimDecode` without
 * scales, compiled for inference (on onednn: one primitive per conv, each upsampling fused into
 * the conv after it). `arrays` holds the `dec.*` weights (other entries are ignored).
 */
export function slimChain(arrays: Record<string, NamedArray>, cfg: SlimDecoderConfig): ChainRunner {
  const names = checkConfig(cfg);
  const layers: ChainConv[] = [...names, "dec.out"].map((name, i) => {
    const w = arrays[`${name}.w`], b = arrays[`${name}.b`];
    if (!w || !b) throw new Error(`slim decoder: missing ${name}.w or ${name}.b`);
    return {
      filter: { shape: w.shape, data: Float32Array.from(w.data) },
      bias: Float32Array.from(b.data),
      upsample: name.startsWith("dec.up"),
      alpha: i < names.length ? LRELU_SLOPE : null,
    };
  });
  return new ChainRunner(layers);
}

/** The decoder's weights (`dec.*`) out of a whole model's arrays. */
export function decoderArrays(arrays: Record<string, NamedArray>): Record<string, NamedArray> {
  return Object.fromEntries(Object.entries(arrays).filter(([k]) => k.startsWith("dec.")));
}

export interface LayerCost {
  name: string;
  inChannels: number;
  outChannels: number;
  /** Output resolution of the conv. */
  height: number;
  width: number;
  params: number;
  flops: number;
}

/**
 * Parameters and FLOPs of one decode of a `codeH` x `codeW` code. A 3x3 conv from Cin to Cout
 * at HxW costs 2*9*Cin*Cout*H*W FLOPs (a multiply-add is two) plus H*W*Cout bias additions;
 * activations, scales (folded away after pruning) and the nearest upsampling are not counted.
 */
export function decoderCost(
  cfg: SlimDecoderConfig,
  codeH: number,
  codeW: number,
): { params: number; flops: number; layers: LayerCost[] } {
  const names = checkConfig(cfg);
  const layers: LayerCost[] = [];
  let cin = cfg.latentChannels, h = codeH, w = codeW;
  const add = (name: string, cout: number) => {
    const params = 9 * cin * cout + cout;
    const flops = 2 * 9 * cin * cout * h * w + h * w * cout;
    layers.push({ name, inChannels: cin, outChannels: cout, height: h, width: w, params, flops });
    cin = cout;
  };
  names.forEach((name, i) => {
    if (name.startsWith("dec.up")) [h, w] = [2 * h, 2 * w];
    add(name, cfg.channels[i]);
  });
  add("dec.out", cfg.imageChannels);
  return {
    params: layers.reduce((a, l) => a + l.params, 0),
    flops: layers.reduce((a, l) => a + l.flops, 0),
    layers,
  };
}

/**
 * FLOPs one channel of each hidden conv accounts for: its filter and bias in that conv plus its
 * input slice of the next conv, i.e. what removing it saves (see `decoderCost`).
 */
export function channelCosts(cfg: SlimDecoderConfig, codeH: number, codeW: number): number[] {
  const { layers } = decoderCost(cfg, codeH, codeW);
  return cfg.channels.map((_, i) => {
    const own = layers[i], next = layers[i + 1];
    return 2 * 9 * own.inChannels * own.height * own.width + own.height * own.width +
      2 * 9 * next.outChannels * next.height * next.width;
  });
}

/**
 * What one channel of each hidden conv costs in multiply-adds as the compiled chain
 * (`slimChain`) runs the decoder on a CPU whose conv kernels compute `vectorWidth` output
 * channels at a time (16 floats with AVX-512, 8 with AVX2): a conv's output channels count
 * rounded up to that width, since a 3-channel conv takes as long as a 16-channel one. Plain
 * convs cost 9 Cin pad(Cout) H W, upsampling convs their two phase convs, 2 x 6 taps x Cin x
 * pad(2 Cout) x (H/2)(W/2). A channel's share: its conv's cost per output channel plus its
 * input slice of the next conv (the part that FLOPs undercount most: the output conv's 3
 * channels are padded to 16, so the channels feeding it cost 5x their FLOPs).
 */
export function chainChannelCosts(
  cfg: SlimDecoderConfig,
  codeH: number,
  codeW: number,
  vectorWidth = 16,
): number[] {
  const { layers } = decoderCost(cfg, codeH, codeW);
  const pad = (c: number) => Math.ceil(c / vectorWidth) * vectorWidth;
  /** Padded multiply-adds of layer i per input channel. */
  const perInput = layers.map((l) =>
    l.name.startsWith("dec.up")
      ? 3 * pad(2 * l.outChannels) * l.height * l.width
      : 9 * pad(l.outChannels) * l.height * l.width
  );
  return cfg.channels.map((c, i) => (perInput[i] * layers[i].inChannels) / c + perInput[i + 1]);
}

/**
 * Removes channels: `keep[i]` lists the output channels of hidden conv i that stay (ascending).
 * With `scales` (per hidden conv), each kept channel's filter and bias are multiplied by its
 * scale first, so the pruned decoder without scales equals the scaled decoder whose dropped
 * scales are zero. Returns genuinely smaller arrays (output channels of conv i and the input
 * channels of the conv after it are gathered), and the config with the new counts.
 */
export function pruneDecoder(
  arrays: Record<string, NamedArray>,
  cfg: SlimDecoderConfig,
  keep: number[][],
  scales?: Float32Array[],
): { arrays: Record<string, NamedArray>; config: SlimDecoderConfig } {
  const names = checkConfig(cfg);
  if (keep.length !== names.length) throw new Error("pruneDecoder: one keep list per hidden conv");
  keep.forEach((k, i) => {
    if (k.length === 0) throw new Error(`pruneDecoder: ${names[i]} would keep no channel`);
    if (
      k.some((c, j) =>
        !Number.isInteger(c) || c < 0 || c >= cfg.channels[i] || (j && c <= k[j - 1])
      )
    ) {
      throw new Error(
        `pruneDecoder: keep list of ${names[i]} is not ascending in [0, ${cfg.channels[i]})`,
      );
    }
  });
  const out: Record<string, NamedArray> = {};
  const all = [...names, "dec.out"];
  all.forEach((name, i) => {
    const w = arrays[`${name}.w`], b = arrays[`${name}.b`];
    if (!w || !b) throw new Error(`pruneDecoder: missing ${name}.w or ${name}.b`);
    const [kh, kw, cin, cout] = w.shape;
    const ins = i === 0 ? range(cin) : keep[i - 1];
    const outs = i < names.length ? keep[i] : range(cout);
    const s = i < names.length ? scales?.[i] : undefined;
    const wd = new Float32Array(kh * kw * ins.length * outs.length);
    let o = 0;
    for (let y = 0; y < kh * kw; y++) {
      for (const ci of ins) {
        const row = (y * cin + ci) * cout;
        for (const co of outs) wd[o++] = w.data[row + co] * (s ? s[co] : 1);
      }
    }
    out[`${name}.w`] = { shape: [kh, kw, ins.length, outs.length], data: wd };
    out[`${name}.b`] = {
      shape: [outs.length],
      data: Float32Array.from(outs, (co) => b.data[co] * (s ? s[co] : 1)),
    };
  });
  return { arrays: out, config: { ...cfg, channels: keep.map((k) => k.length) } };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
