/**
 * The trained generator as a product: the `train-generator` stage's file (EMA weights `E/`, G's
 * raw weights `G/`, typed metadata), and sampling from it. In latent space G's outputs are
 * z-scored codes; `sample` de-normalises them with the code statistics and decodes them to
 * images with a compiled decoder, so every caller gets images in [-1, 1] NHWC.
 */
import * as tf from "@tensorflow/tfjs";
import type { NamedArray } from "../nn/tensor_file.ts";
import { readTensorFile, writeTensorFile } from "../nn/tensor_file.ts";
import { MetaFields } from "../nn/meta_fields.ts";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import type { ChainRunner } from "../backend/inference/chain_runner.ts";
import { type GanConfig, generate, type Phase, sampleLatents } from "./gan.ts";
import { upsampleTo } from "./layers.ts";
import { slimChain, type SlimDecoderConfig } from "./slim_decoder.ts";

/** Per-channel statistics the latent codes were z-scored with: raw = code * std + mean. */
export interface CodeStats {
  mean: number[];
  std: number[];
}

export interface GeneratorMeta {
  config: GanConfig;
  /** What G outputs: latent codes (decoded to images by an autoencoder's decoder) or pixels. */
  space: "latent" | "pixel";
  /** Latent space: the codes' statistics; null in pixel space. */
  codeStats: CodeStats | null;
  /** Snapshots: the training step they were taken at. */
  step?: number;
  /** Snapshots of a growing GAN: the phase it was at (sampled there, upsampled to full size). */
  phase?: Phase;
}

export function parseGanConfig(f: MetaFields): GanConfig {
  const [h, w, c] = f.numbers("shape", 3);
  const maxChannels = f.optionalInt("maxChannels"), minChannels = f.optionalInt("minChannels");
  const arch = f.optionalChoice("arch", ["dcgan", "progan", "fastgan"] as const);
  const conv = f.optionalChoice("conv", ["standard", "separable"] as const);
  const separableD = f.optionalBoolean("separableD");
  const mbstd = f.optionalBoolean("mbstd");
  const zModes = f.optionalInt("zModes");
  const modeWeights = f.has("modeWeights") ? f.numbers("modeWeights", zModes) : undefined;
  const conditionD = f.optionalBoolean("conditionD");
  const discriminator = f.optionalChoice("discriminator", ["standard", "projected"] as const);
  return {
    shape: [h, w, c],
    zDim: f.int("zDim"),
    ...(zModes !== undefined ? { zModes } : {}),
    ...(modeWeights !== undefined ? { modeWeights } : {}),
    ...(conditionD !== undefined ? { conditionD } : {}),
    baseChannels: f.int("baseChannels"),
    ...(minChannels !== undefined ? { minChannels } : {}),
    ...(maxChannels !== undefined ? { maxChannels } : {}),
    tanh: f.boolean("tanh"),
    ...(arch !== undefined ? { arch } : {}),
    ...(conv !== undefined ? { conv } : {}),
    ...(separableD !== undefined ? { separableD } : {}),
    ...(mbstd !== undefined ? { mbstd } : {}),
    ...(discriminator !== undefined ? { discriminator } : {}),
  };
}

export function parseGeneratorMeta(meta: Record<string, unknown>, where: string): GeneratorMeta {
  const f = MetaFields.of(meta, where);
  const space = f.choice("space", ["latent", "pixel"] as const);
  let codeStats: CodeStats | null = null;
  if (space === "latent") {
    const s = f.object("codeStats");
    codeStats = { mean: s.numbers("mean"), std: s.numbers("std") };
  }
  const out: GeneratorMeta = { config: parseGanConfig(f.object("config")), space, codeStats };
  if (f.has("step")) out.step = f.int("step");
  if (f.has("phase")) {
    const p = f.object("phase");
    out.phase = { level: p.int("level"), alpha: p.number("alpha") };
  }
  return out;
}

/** Writes a generator file; the metadata's fields are stored in the order given. */
export async function writeGeneratorFile(
  path: string,
  arrays: Record<string, NamedArray>,
  meta: GeneratorMeta,
): Promise<void> {
  await writeTensorFile(path, { arrays, meta: { ...meta } });
}

/** A compiled decoder's source: the `dec.*` weights and the slim decoder's config. */
export interface DecoderWeights {
  arrays: Record<string, NamedArray>;
  config: SlimDecoderConfig;
}

/** Latent codes -> images: de-normalise with the code statistics, then the compiled decoder. */
export class LatentDecoder {
  private readonly runner: ChainRunner;

  constructor(
    decoder: DecoderWeights,
    private readonly stats: CodeStats,
  ) {
    this.runner = slimChain(decoder.arrays, decoder.config);
  }

  decode(codes: tf.Tensor4D): tf.Tensor4D {
    const { mean, std } = this.stats;
    return tf.tidy(() => this.runner.run(tf.add(tf.mul(codes, std), mean) as tf.Tensor4D));
  }

  dispose(): void {
    this.runner.dispose();
  }
}

/** A loaded generator (EMA weights) that samples images. */
export class TrainedGenerator {
  private constructor(
    readonly meta: GeneratorMeta,
    private readonly g: Params,
    private readonly decoder: LatentDecoder | null,
  ) {}

  /**
   * Loads `path`'s EMA weights; a latent-space generator needs `decoder`, the weights and config
   * of the decoder that turns its codes into images.
   */
  static async load(
    path: string,
    decoder?: DecoderWeights | null,
  ): Promise<TrainedGenerator> {
    const file = await readTensorFile(path);
    const meta = parseGeneratorMeta(file.meta, path);
    if (meta.space === "latent" && !decoder) {
      throw new Error(`${path}: a latent-space generator needs the autoencoder's decoder`);
    }
    const g = new Params(new Rng(0), false);
    g.loadArrays(file.arrays, "E/");
    const dec = meta.space === "latent" ? new LatentDecoder(decoder!, meta.codeStats!) : null;
    return new TrainedGenerator(meta, g, dec);
  }

  /**
   * `n` images in [-1, 1], [n, H, W, C], from latents drawn from `rng`; a growing GAN's snapshot
   * samples at its phase, upsampled to full size.
   */
  sample(rng: Rng, n: number): tf.Tensor4D {
    const { config, phase } = this.meta;
    return tf.tidy(() => {
      const x = upsampleTo(
        generate(this.g, config, sampleLatents(rng, n, config), { phase }),
        config.shape[0],
      );
      return this.decoder ? this.decoder.decode(x) : x;
    });
  }

  /**
   * `count` images drawn in batches from `seed`'s latents, as one NHWC Float32Array (each batch
   * read asynchronously: a GPU backend cannot read synchronously).
   */
  async sampleAll(
    count: number,
    seed: number,
    batch: number,
    onBatch?: (done: number) => void,
  ): Promise<{ data: Float32Array; shape: [number, number, number] }> {
    const rng = new Rng(seed);
    let out: Float32Array | null = null;
    let shape: [number, number, number] = [0, 0, 0];
    for (let i = 0; i < count; i += batch) {
      const m = Math.min(batch, count - i);
      const imgs = this.sample(rng, m);
      if (!out) {
        shape = imgs.shape.slice(1) as [number, number, number];
        out = new Float32Array(count * shape[0] * shape[1] * shape[2]);
      }
      out.set(await imgs.data() as Float32Array, i * shape[0] * shape[1] * shape[2]);
      imgs.dispose();
      onBatch?.(i + m);
    }
    return { data: out!, shape };
  }

  dispose(): void {
    this.g.dispose();
    this.decoder?.dispose();
  }
}
