/** What `compressDecoder` (train/compress.ts) takes and returns. */
import type { NamedArray } from "../nn/tensor_file.ts";
import type { SlimDecoderConfig } from "../models/slim_decoder.ts";
import type { CheckpointHooks } from "./checkpoint_state.ts";

/** Codes and what a decoder should make of them, in memory (NHWC floats). */
export interface CodeSet {
  codes: Float32Array;
  codeShape: [number, number, number];
  /** What the reconstruction losses aim at: the teacher's outputs, or the original images. */
  targets: Float32Array;
  imageShape: [number, number, number];
}

/** Held-out material for choosing (and reporting) the pruning: codes, originals, teacher outputs. */
export interface Calibration {
  codes: Float32Array;
  codeShape: [number, number, number];
  originals: Float32Array;
  /** The uncompressed teacher's decodes of `codes`. */
  reference: Float32Array;
}

/** Keep channels until the PSNR loss reaches `maxPsnrLossDb`, or keep a fraction of them. */
export type CompressTarget = { maxPsnrLossDb: number } | { keepFraction: number };

export interface CompressOptions {
  /** The trained decoder's weights (`dec.*`). */
  teacher: Record<string, NamedArray>;
  config: SlimDecoderConfig;
  train: CodeSet;
  calibration: Calibration;
  target: CompressTarget;
  /** Fewest channels any hidden conv keeps. */
  minChannels?: number;
  condenseSteps: number;
  distillSteps: number;
  batch: number;
  seed: number;
  /** Learning rate of the scales during condensation. */
  lr?: number;
  /** Learning rate of the student and its adapters during distillation. */
  distillLr?: number;
  /**
   * Distillation steps of each probe while searching the prune count for a PSNR target; by
   * default `distillSteps`, and the chosen probe's student is then the result.
   */
  probeSteps?: number;
  /** Learning rate of the weights during condensation (0 freezes them). */
  weightLr?: number;
  /** Weight of the L1 penalty (sum of |scale| over all hidden channels). */
  l1?: number;
  /**
   * How the L1 penalty weighs each conv's scales: by what one of its channels costs (normalised
   * to mean 1 over all channels), so the threshold removes expensive channels first at equal
   * importance (a resource-weighted penalty, as in MorphNet): "latency" (default) its
   * multiply-adds as the compiled decoder runs them on `vectorWidth`-wide vectors
   * (`chainChannelCosts`: the channels feeding the 3-channel output conv cost 5x their FLOPs),
   * "flops" its FLOPs; "uniform" weighs all alike, as in network slimming.
   */
  l1Weighting?: "flops" | "latency" | "uniform";
  /** Output channels a CPU conv kernel computes at once, for "latency" weighting (default 16). */
  vectorWidth?: number;
  /** Weight of the feature-matching loss (mean over hidden layers of the adapted MSE). */
  featureWeight?: number;
  /**
   * Whose outputs the student's pixel loss aims at: the original teacher's (what the PSNR loss is
   * measured against; default), or the condensed teacher's.
   */
  pixelsFrom?: "condensed" | "original";
  /**
   * Whose hidden activations the adapted student features match: the condensed teacher's
   * (default; its kept channels are the student's, and carry what the pruned ones lost), or the
   * original's.
   */
  featuresFrom?: "condensed" | "original";
  checkpoint?: CheckpointHooks;
  onProgress?: (
    step: number,
    total: number,
    phase: "condense" | "distill",
    losses: Record<string, number>,
  ) => void;
}

export interface CompressResult {
  /** Condensed teacher weights (unfolded) and its scales, per hidden conv. */
  condensed: { arrays: Record<string, NamedArray>; scales: Float32Array[] };
  /** Kept output channels of each hidden conv. */
  keep: number[][];
  /** The pruned, scale-folded decoder before distillation. */
  pruned: { arrays: Record<string, NamedArray>; config: SlimDecoderConfig };
  /** The pruned decoder after distillation: the result. */
  student: { arrays: Record<string, NamedArray>; config: SlimDecoderConfig };
  /**
   * Calibration PSNR loss by prune count, as tried while choosing: pruned only (no retraining),
   * and after a probe of `probeSteps` distillation steps.
   */
  selection: {
    prunedOnly: { pruned: number; lossDb: number }[];
    distilled: { pruned: number; lossDb: number }[];
  };
  /** |scale| threshold: channels at or below it were removed (0 when none was). */
  threshold: number;
  /** The result's PSNR loss on the calibration set (what the target was checked on). */
  calibrationLossDb: number;
  history: Record<string, number[]>;
}
