/**
 * Everything a training loop needs to resume exactly: weights, optimizer moments, step, RNG
 * state and loss history, as one tensor file.
 */
import { decodeTensorFile, encodeTensorFile, type NamedArray } from "../nn/tensor_file.ts";
import type { RngState } from "../nn/rng.ts";

export interface TrainState {
  step: number;
  rng: RngState;
  arrays: Record<string, NamedArray>;
  history: Record<string, number[]>;
  extra?: Record<string, unknown>;
}

export function encodeState(s: TrainState): Uint8Array {
  return encodeTensorFile({
    arrays: s.arrays,
    meta: { step: s.step, rng: s.rng, history: s.history, extra: s.extra ?? {} },
  });
}

export function decodeState(bytes: Uint8Array): TrainState {
  const f = decodeTensorFile(bytes);
  const m = f.meta as {
    step: number;
    rng: RngState;
    history: Record<string, number[]>;
    extra: Record<string, unknown>;
  };
  return { step: m.step, rng: m.rng, arrays: f.arrays, history: m.history, extra: m.extra };
}

/** How a caller persists checkpoints (the pipeline's ctx.checkpoint, or a test's memory). */
export interface CheckpointHooks {
  every: number;
  save(step: number, state: TrainState): Promise<void>;
  resume?: TrainState | null;
}

/** Stops training with the step and the last good checkpoint when a loss is NaN or infinite. */
export class DivergenceError extends Error {
  override name = "DivergenceError";
  constructor(
    readonly step: number,
    readonly lastCheckpoint: number | null,
    losses: Record<string, number>,
  ) {
    super(
      `training diverged at step ${step} (${
        Object.entries(losses).map(([k, v]) => `${k}=${v}`).join(", ")
      }); ` +
        (lastCheckpoint === null
          ? "no checkpoint was saved yet"
          : `last good checkpoint: step ${lastCheckpoint}`),
    );
  }
}

/** Anything whose state is named arrays: parameter stores and optimizers. */
export interface Stateful {
  toArrays(prefix: string): Record<string, NamedArray>;
  loadArrays(arrays: Record<string, NamedArray>, prefix: string): void;
}

/** A training state from named parts (each saved under "<name>/"). */
export function packState(
  parts: Record<string, Stateful>,
  step: number,
  rng: RngState,
  history: Record<string, number[]>,
): TrainState {
  const arrays: Record<string, NamedArray> = {};
  for (const [name, part] of Object.entries(parts)) {
    Object.assign(arrays, part.toArrays(`${name}/`));
  }
  const copy = Object.fromEntries(Object.entries(history).map(([k, v]) => [k, [...v]]));
  return { step, rng, arrays, history: copy };
}

/** Loads every part from a state made by packState. */
export function unpackState(state: TrainState, parts: Record<string, Stateful>): void {
  for (const [name, part] of Object.entries(parts)) part.loadArrays(state.arrays, `${name}/`);
}
