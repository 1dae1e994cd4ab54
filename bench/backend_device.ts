/**
 * The reference GAN step (reference_nets.ts, as backend.ts times it on the CPU backends) timed on a GPU backend. Steps are queued without reading
 * anything back; the clock stops when the last step's losses have been read (asynchronously),
 * so ms/step is the device's throughput, not the time to enqueue work.
 */
import * as tf from "@tensorflow/tfjs";
import { ganStepTensors } from "../train/gan_step.ts";
import { GAN_LOSSES } from "../train/losses.ts";
import { referenceTraining, Z } from "./reference_nets.ts";
import { flag } from "./flags.ts";

/** `--batch=N` (default 32): smaller for a software adapter (lavapipe), where 32 takes a minute. */
export function deviceBatch(args: string[]): number | null {
  const v = flag(args, "batch");
  return v ? Number(v) : null;
}

export async function deviceGanStepMs(
  size: number,
  batch: number,
  steps: number,
): Promise<{ ms: number; gParams: number; dParams: number }> {
  const { rng, g, d, og, od, real, nets } = referenceTraining(size, batch);
  const loss = { loss: GAN_LOSSES.logistic };
  const run = async (n: number) => {
    let last: tf.Scalar[] = [];
    for (let i = 0; i < n; i++) {
      const z1 = tf.tensor2d(rng.normalArray(batch * Z), [batch, Z]);
      const z2 = tf.tensor2d(rng.normalArray(batch * Z), [batch, Z]);
      const l = ganStepTensors("two-stage", nets, { real, z1, z2 }, od, og, loss);
      tf.dispose([z1, z2, ...last]);
      last = [l.d, l.g];
    }
    await Promise.all(last.map((t) => t.data())); // waits for every queued step
    tf.dispose(last);
  };
  await run(2); // warm-up: shader compilation, buffer pools
  const t0 = performance.now();
  await run(steps);
  const ms = (performance.now() - t0) / steps;
  const out = { ms, gParams: g.count(), dParams: d.count() };
  tf.dispose([real]);
  g.dispose();
  d.dispose();
  og.dispose();
  od.dispose();
  return out;
}
