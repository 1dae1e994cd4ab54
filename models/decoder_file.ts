/**
 * The file of a compressed decoder (`compress` stage): a slim decoder's weights (`dec.*`) and
 * typed metadata, including the teacher it was distilled from. Read with `readDecoderFile`.
 */
import type { NamedArray } from "../nn/tensor_file.ts";
import { readTensorFile, writeTensorFile } from "../nn/tensor_file.ts";
import { MetaFields } from "../nn/meta_fields.ts";
import type { AutoencoderConfig } from "./autoencoder.ts";
import { codeShapeField, parseAutoencoderConfig } from "./autoencoder_file.ts";
import type { SlimDecoderConfig } from "./slim_decoder.ts";

export interface DecoderMeta {
  config: SlimDecoderConfig;
  teacherConfig: SlimDecoderConfig;
  autoencoderConfig: AutoencoderConfig;
  imageSize: number;
  codeShape: [number, number, number];
  /** Whose decoder was compressed. */
  source: "autoencoder" | "conditional";
  /** Indices of the hidden channels kept, per conv. */
  keep: number[][];
}

export interface DecoderFile extends DecoderMeta {
  arrays: Record<string, NamedArray>;
}

export function parseSlimDecoderConfig(f: MetaFields): SlimDecoderConfig {
  return {
    latentChannels: f.int("latentChannels"),
    imageChannels: f.int("imageChannels"),
    levels: f.int("levels"),
    channels: f.numbers("channels"),
  };
}

export function parseDecoderMeta(meta: Record<string, unknown>, where: string): DecoderMeta {
  const f = MetaFields.of(meta, where);
  return {
    config: parseSlimDecoderConfig(f.object("config")),
    teacherConfig: parseSlimDecoderConfig(f.object("teacherConfig")),
    autoencoderConfig: parseAutoencoderConfig(f.object("autoencoderConfig")),
    imageSize: f.int("imageSize"),
    codeShape: codeShapeField(f, "codeShape"),
    source: f.choice("source", ["autoencoder", "conditional"] as const),
    keep: f.numberLists("keep"),
  };
}

export async function readDecoderFile(path: string): Promise<DecoderFile> {
  const file = await readTensorFile(path);
  return { arrays: file.arrays, ...parseDecoderMeta(file.meta, path) };
}

export async function writeDecoderFile(path: string, file: DecoderFile): Promise<void> {
  const { config, teacherConfig, autoencoderConfig, imageSize, codeShape, source, keep } = file;
  await writeTensorFile(path, {
    arrays: file.arrays,
    meta: { config, teacherConfig, autoencoderConfig, imageSize, codeShape, source, keep },
  });
}
