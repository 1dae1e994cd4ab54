/**
 * The file of a trained autoencoder (`train-autoencoder`) or edges -> image network
 * (`train-conditional`, which adds `condition`): its weights and typed metadata. Read with
 * `readAutoencoderFile`, which checks every field instead of trusting the file.
 */
import type { NamedArray } from "../nn/tensor_file.ts";
import { readTensorFile, writeTensorFile } from "../nn/tensor_file.ts";
import { MetaFields } from "../nn/meta_fields.ts";
import type { AutoencoderConfig } from "./autoencoder.ts";

/** The conditional network's input: a thresholded Sobel edge map (data/edges.ts). */
export interface EdgeCondition {
  kind: "sobel";
  threshold: number;
  channels: number;
}

export interface AutoencoderMeta {
  config: AutoencoderConfig;
  /** Side of the square images it was trained on. */
  imageSize: number;
  /** [H, W, C] of a latent code. */
  codeShape: [number, number, number];
  condition?: EdgeCondition;
}

export interface AutoencoderFile extends AutoencoderMeta {
  arrays: Record<string, NamedArray>;
}

export function parseAutoencoderConfig(f: MetaFields): AutoencoderConfig {
  const maxWidth = f.optionalInt("maxWidth"), imageChannels = f.optionalInt("imageChannels");
  return {
    factor: f.int("factor"),
    latentChannels: f.int("latentChannels"),
    width: f.int("width"),
    ...(maxWidth !== undefined ? { maxWidth } : {}),
    ...(imageChannels !== undefined ? { imageChannels } : {}),
  };
}

/** [H, W, C] from a metadata field. */
export function codeShapeField(f: MetaFields, key: string): [number, number, number] {
  const [h, w, c] = f.numbers(key, 3);
  return [h, w, c];
}

export function parseAutoencoderMeta(
  meta: Record<string, unknown>,
  where: string,
): AutoencoderMeta {
  const f = MetaFields.of(meta, where);
  const out: AutoencoderMeta = {
    config: parseAutoencoderConfig(f.object("config")),
    imageSize: f.int("imageSize"),
    codeShape: codeShapeField(f, "codeShape"),
  };
  if (f.has("condition")) {
    const c = f.object("condition");
    out.condition = {
      kind: c.choice("kind", ["sobel"] as const),
      threshold: c.number("threshold"),
      channels: c.int("channels"),
    };
  }
  return out;
}

export async function readAutoencoderFile(path: string): Promise<AutoencoderFile> {
  const file = await readTensorFile(path);
  return { arrays: file.arrays, ...parseAutoencoderMeta(file.meta, path) };
}

export async function writeAutoencoderFile(path: string, file: AutoencoderFile): Promise<void> {
  const { arrays, config, imageSize, codeShape, condition } = file;
  await writeTensorFile(path, {
    arrays,
    meta: { config, imageSize, codeShape, ...(condition ? { condition } : {}) },
  });
}
