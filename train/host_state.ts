/**
 * The tensors behind a training state (parameter stores' variables, optimizers' moments), so a
 * GPU backend can read them to the host in one asynchronous wait (backend/host_read.ts's
 * `onHost`) before a checkpoint or snapshot serialises them synchronously.
 */
import type * as tf from "@tensorflow/tfjs";

interface HasVars {
  vars: Map<string, tf.Tensor>;
}
interface HasMoments {
  m: Map<string, tf.Tensor>;
  v: Map<string, tf.Tensor>;
}

/** Every tensor a part of `packState` holds: Params' variables, Adam's first and second moments. */
export function stateTensors(parts: Record<string, unknown>): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  for (const part of Object.values(parts)) {
    const p = part as Partial<HasVars & HasMoments>;
    if (p.vars instanceof Map) out.push(...p.vars.values());
    if (p.m instanceof Map && p.v instanceof Map) out.push(...p.m.values(), ...p.v.values());
  }
  return out;
}
