/**
 * The GAN pipeline run by `deno task pipeline`: prepare -> train-autoencoder -> encode ->
 * train-generator -> sample -> evaluate -> report, with `real-stats` (prepare -> real-stats ->
 * evaluate) holding what evaluation needs from the real images, shared by every generator. With `--set train-generator.space=pixel`
 * the generator trains on pixels (the baseline) and the autoencoder stages are not needed.
 */
import type { GlobalDef, StageDef } from "./pipeline/stage.ts";
import { BACKEND_NAMES } from "./backend/mod.ts";
import { prepareStage } from "./stages/prepare.ts";
import { trainAutoencoderStage } from "./stages/train_autoencoder.ts";
import { encodeStage } from "./stages/encode.ts";
import { trainGeneratorStage } from "./stages/train_generator.ts";
import { sampleStage } from "./stages/sample.ts";
import { realStatsStage } from "./stages/real_stats.ts";
import { evaluateStage } from "./stages/evaluate.ts";
import { reportStage } from "./stages/report.ts";
import { compressStage } from "./stages/compress.ts";
import { trainConditionalStage } from "./stages/train_conditional.ts";

export const globals: GlobalDef[] = [{
  name: "backend",
  description: "tensor backend",
  default: "auto",
  choices: BACKEND_NAMES,
}];

export const stages = [
  prepareStage,
  trainAutoencoderStage,
  encodeStage,
  trainGeneratorStage,
  sampleStage,
  realStatsStage,
  evaluateStage,
  reportStage,
  // Off the default target: `sample` pulls compress in with --set sample.decoder=compressed.
  compressStage,
  trainConditionalStage,
] as StageDef[];

export { matrixReport } from "./stages/matrix_report.ts";

/** `run` with no arguments builds the report and whatever it needs (nothing unused in pixel mode). */
export const defaultTargets = ["report"];

/** `matrix` tabulates the evaluation's scores unless told otherwise (--metrics). */
export const defaultMetrics = ["evaluate"];
