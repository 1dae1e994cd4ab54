/**
 * Copying a parameter store on the tensor backend (no host round trip): what a GPU backend does
 * where the host backends copy through `toArrays`/`loadArrays` (the same values either way).
 */
import * as tf from "@tensorflow/tfjs";
import type { Params } from "../nn/params.ts";

/** Sets every variable of `dst` to a copy of `src`'s, creating the missing ones. */
export function copyParamsOnDevice(src: Params, dst: Params): void {
  for (const name of src.names()) {
    const v = src.vars.get(name)!;
    const existing = dst.vars.get(name);
    if (existing) existing.assign(v);
    else dst.vars.set(name, tf.variable(v, dst.trainable, `${dst.scope}/${name}`));
  }
}
