/** CPU latency of decoders, measured in turns so machine load hits all alike. */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../nn/rng.ts";
import type { NamedArray } from "../nn/tensor_file.ts";
import { slimChain, slimDecode, type SlimDecoderConfig } from "../models/slim_decoder.ts";
import { paramsFrom } from "./compress_pruning.ts";

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/**
 * Milliseconds per batch and images per second of several decoders on the same random codes:
 * a warm-up (oneDNN builds its primitives for the shapes), then `reps` rounds taking each
 * decoder in turn, so a change of machine load hits all of them alike; medians. `engine`
 * "compiled" times the decoders as the decode stages run them (`slimChain`: on onednn one
 * primitive per conv, upsampling fused into the next conv), "ops" as tfjs ops (`slimDecode`).
 */
export function decoderLatencies(
  decoders: { arrays: Record<string, NamedArray>; config: SlimDecoderConfig }[],
  codeShape: [number, number, number],
  batch: number,
  reps = 15,
  engine: "compiled" | "ops" = "compiled",
): { msPerBatch: number; imagesPerSecond: number }[] {
  const shape: [number, number, number, number] = [batch, ...codeShape];
  const x = new Rng(7).normalArray(batch * prod(codeShape));
  const runs = decoders.map((d) => {
    if (engine === "compiled") {
      const runner = slimChain(d.arrays, d.config);
      return { run: () => void runner.runArray(x, shape), dispose: () => runner.dispose() };
    }
    const p = paramsFrom(d.arrays);
    const z = tf.tensor4d(x, shape);
    return {
      run: () => {
        const out = slimDecode(p, d.config, z);
        out.dataSync();
        out.dispose();
      },
      dispose: () => {
        p.dispose();
        z.dispose();
      },
    };
  });
  // Warm-up: at least one round and one second. A fresh process ran its first few hundred
  // decodes up to 1.8x slower (measured here, whatever the decoder), then settled.
  const warmUntil = performance.now() + 1000;
  do for (const r of runs) r.run(); while (performance.now() < warmUntil);
  const times = decoders.map(() => [] as number[]);
  for (let i = 0; i < reps; i++) {
    runs.forEach((r, j) => {
      const t0 = performance.now();
      r.run();
      times[j].push(performance.now() - t0);
    });
  }
  for (const r of runs) r.dispose();
  return times.map((t) => {
    const ms = [...t].sort((a, b) => a - b)[Math.floor(t.length / 2)];
    return { msPerBatch: ms, imagesPerSecond: (1000 * batch) / ms };
  });
}
