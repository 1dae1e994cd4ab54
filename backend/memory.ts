/**
 * Tensor memory as the backend sees it, for the figures training reports (peak memory of a step
 * or of a run). Only the onednn backend tracks it: its buffer pool (onednn/buffer_pool.ts) counts
 * distinct buffers, while tfjs's own tf.memory() counts a shared buffer once per tensor.
 */
import * as tf from "@tensorflow/tfjs";
import {
  backendMemory as poolMemory,
  resetPeakMemory as resetPoolPeak,
} from "./onednn/buffer_pool.ts";

/** Whether the current backend tracks its memory (onednn). */
export function tracksMemory(): boolean {
  return tf.getBackend() === "onednn";
}

/** Bytes of distinct tensor buffers held now, and the most since `resetPeakMemory` (onednn). */
export function backendMemory(): { live: number; peak: number } {
  return poolMemory();
}

/** Starts a new peak from what is held now. */
export function resetPeakMemory(): void {
  resetPoolPeak();
}
