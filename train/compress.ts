/**
 * Device-efficient decoders by condense -> prune -> distill ("Towards Device Efficient
 * Conditional Image Generation", 2022), for the decoder of models/slim_decoder.ts:
 *
 * 1. condense: fine-tune the decoder with a per-channel scale after each hidden conv (init 1)
 *    and an L1 penalty on the scales (weighted by what a channel of each conv costs in FLOPs,
 *    by default), reconstructing the teacher's outputs (or the images). The scales get their own,
 *    faster optimizer; the weights a slower one (or none), because a conv can otherwise undo the
 *    shrinking by growing its filters.
 * 2. prune: drop the channels with the smallest |scale| (one global threshold, at least
 *    `minChannels` per conv) and fold the kept scales into the weights: smaller tensors, not
 *    masks. How many: a channel budget, or for a PSNR-loss target the largest count whose
 *    distilled student loses at most the target on a calibration set (binary search; counts the
 *    undistilled pruned network already meets are taken without probing).
 * 3. distill: fine-tune the pruned student with a pixel loss against the original teacher's
 *    outputs (what the loss is measured against) plus feature matching of every hidden
 *    activation of the condensed teacher through a 1x1 adapter (student width -> teacher width,
 *    initialised to pick the retained channels, then learnt). Either source is an option.
 *
 * One step counter runs through all training; checkpoints resume any phase exactly.
 *
 * Here the whole procedure; the run's state and phases: train/compress_run.ts; the pruning
 * choices: train/compress_pruning.ts; options and result: train/compress_options.ts.
 */
import type { CompressOptions, CompressResult } from "./compress_options.ts";
import { CompressionRun } from "./compress_run.ts";

export async function compressDecoder(o: CompressOptions): Promise<CompressResult> {
  const run = new CompressionRun(o);
  await run.resume();
  await run.condense();
  return run.finish(await run.pruneAndDistill());
}
