/**
 * Losses of training steps kept on the tensor backend until they are read, all at once, with one
 * asynchronous wait. On a GPU a read is a synchronisation point: reading every step's losses
 * would stall the queue each step. The training loops read every `every` steps (and before any
 * checkpoint, snapshot or the end); on the JS-array backends `every` is 1, so a loop behaves
 * exactly as with a read per step.
 */
import * as tf from "@tensorflow/tfjs";
import { onDevice, throwIfGpuFailed } from "../backend/host_read.ts";

/** Steps between loss reads on a GPU backend (progress and divergence checks follow it). */
export const DEVICE_READ_EVERY = 10;

export interface ReadStep<I> {
  step: number;
  values: number[];
  info: I;
  /** Wall ms of the step: measured per step on the host, the window's mean on a GPU. */
  ms: number;
}

export class PendingLosses<I> {
  #steps: { step: number; tensors: tf.Scalar[]; info: I; ms: number }[] = [];
  #windowStart = performance.now();

  constructor(readonly every = onDevice() ? DEVICE_READ_EVERY : 1) {}

  get size(): number {
    return this.#steps.length;
  }

  /** Whether the window is full (reading is due). */
  get full(): boolean {
    return this.#steps.length >= this.every;
  }

  /** Takes ownership of `tensors` (disposed when read). `ms` is the host-measured step time. */
  push(step: number, tensors: tf.Scalar[], info: I, ms: number): void {
    if (this.#steps.length === 0 && this.every > 1) this.#windowStart = performance.now() - ms;
    this.#steps.push({ step, tensors, info, ms });
  }

  /** Reads every pending step's losses in one wait, oldest first. */
  async read(): Promise<ReadStep<I>[]> {
    const steps = this.#steps;
    this.#steps = [];
    if (steps.length === 0) return [];
    const all = steps.flatMap((s) => s.tensors);
    const joined = tf.tidy(() => tf.concat(all.map((t) => tf.reshape(t, [1]))));
    const values = await joined.data();
    tf.dispose([joined, ...all]);
    throwIfGpuFailed(); // a rejected dispatch leaves zeros behind: fail instead
    // On a GPU a step's host time is only its dispatch: the window's wall time is the truth.
    const mean = this.every > 1 ? (performance.now() - this.#windowStart) / steps.length : 0;
    let k = 0;
    return steps.map((s) => ({
      step: s.step,
      values: s.tensors.map(() => values[k++]),
      info: s.info,
      ms: this.every > 1 ? mean : s.ms,
    }));
  }
}
