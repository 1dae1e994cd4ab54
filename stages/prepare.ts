/** Stage `prepare`: a dataset -> multi-resolution image Zarr (see data/prepare.ts). */
import { z } from "zod";
import { defineStage, type InputRef } from "../pipeline/stage.ts";
import { prepareDataset } from "../data/prepare.ts";
import { fashionMnistFiles, mnistFiles } from "../data/idx.ts";
import type { SourceSpec } from "../data/sources.ts";

const params = z.object({
  /** mnist (embedded default), fashion-mnist (Debian package), celebahq / folder (a folder of photos), archive (.zip/.tar[.gz]), procedural. */
  source: z.enum(["mnist", "fashion-mnist", "celebahq", "folder", "archive", "procedural"]).default(
    "mnist",
  ),
  path: z.string().optional(),
  split: z.enum(["train", "test"]).default("train"),
  limit: z.number().int().min(1).default(12000),
  resolution: z.number().int().refine(
    (r) => r >= 4 && Number.isInteger(Math.log2(r)),
    "a power of two >= 4",
  ).default(32),
  upscaleSmall: z.boolean().default(false),
  format: z.union([z.literal(2), z.literal(3)]).default(3),
  seed: z.number().int().default(0),
});

export const prepareStage = defineStage({
  name: "prepare",
  module: import.meta.url,
  params,
  inputs: (p): Record<string, InputRef> => {
    if (p.source === "folder" || p.source === "celebahq" || p.source === "archive") {
      if (!p.path) {
        throw new Error(`stage "prepare": source "${p.source}" needs --set prepare.path=<folder>`);
      }
      return { images: { path: p.path } };
    }
    if (p.source === "fashion-mnist") {
      return { images: { path: fashionMnistFiles(p.split).images } };
    }
    return {};
  },
  outputs: { dataset: "dataset.zarr" },
  async run(ctx) {
    const p = ctx.params;
    let source: SourceSpec;
    let pad = 0;
    if (p.source === "mnist" || p.source === "fashion-mnist") {
      const files = p.source === "mnist" ? mnistFiles(p.split) : fashionMnistFiles(p.split);
      source = { kind: "idx", ...files, limit: p.limit };
      pad = Math.max(0, (p.resolution - 28) / 2); // 28x28 digits centred in the target
    } else if (p.source === "procedural") {
      source = { kind: "procedural", count: p.limit, size: p.resolution, seed: p.seed };
    } else {
      source = {
        kind: p.source === "archive" ? "archive" : "folder",
        path: ctx.inputs.images,
        limit: p.limit,
      };
    }
    const summary = await prepareDataset({
      source,
      resolution: p.resolution,
      pad: p.resolution >= 28 ? pad : 0,
      upscaleSmall: p.upscaleSmall ||
        ((p.source === "mnist" || p.source === "fashion-mnist") && p.resolution > 32),
      format: p.format,
      out: ctx.outputs.dataset,
      onProgress: (done, label) => ctx.progress(done, p.limit, label),
    });
    if (summary.skipped) ctx.log(`skipped ${summary.skipped}: ${JSON.stringify(summary.reasons)}`);
    return { images: summary.kept, skipped: summary.skipped };
  },
});
