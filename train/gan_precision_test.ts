/**
 * A tiny GAN trained in bf16 on the onednn backend stays finite and close to the same training in
 * fp32 over a few steps; a bf16 request where the CPU has no bf16 (injected) trains exactly as
 * fp32.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "../tests/assert.ts";
import { initBackend } from "../backend/mod.ts";
import {
  bf16Unavailable,
  type Precision,
  type PrecisionEnv,
  usePrecision,
} from "../backend/precision.ts";
import { cpuFlags } from "../backend/cpu_features.ts";
import { hasOneDnn } from "../backend/onednn/test_gate.ts";
import { loadOneDnn } from "../backend/onednn/ffi.ts";
import { blobs } from "../tests/blob_batches.ts";
import { trainGan } from "./gan.ts";

const env = (flags: string[]): PrecisionEnv => ({
  backend: "onednn",
  cpuFlags: new Set(flags),
  oneDnnIsa: hasOneDnn ? loadOneDnn()!.lib.dnnl_get_effective_cpu_isa() : null,
});
const why = hasOneDnn ? bf16Unavailable(env([...cpuFlags()])) : "oneDNN does not load";
if (why) console.log(`bf16 training test ignored: ${why}`);

const STEPS = 4;

async function train(precision: Precision, steps = STEPS, e?: PrecisionEnv) {
  await initBackend("onednn");
  const scope = usePrecision(precision, { env: e, log: () => {} });
  try {
    const r = await trainGan({
      config: { shape: [8, 8, 4], zDim: 8, baseChannels: 32, tanh: false },
      data: blobs([8, 8, 4], 8, 3),
      steps,
      seed: 7,
    });
    const out = { ran: scope.precision, history: r.history, g: r.g.toArrays(), d: r.d.toArrays() };
    tf.disposeVariables();
    return out;
  } finally {
    scope.end();
  }
}

/** ||a - b|| over every weight of G and D. */
function distance(a: Awaited<ReturnType<typeof train>>, b: Awaited<ReturnType<typeof train>>) {
  let sum = 0;
  for (const part of ["g", "d"] as const) {
    for (const [name, x] of Object.entries(a[part])) {
      const y = b[part][name].data;
      x.data.forEach((v, i) => (sum += (v - y[i]) ** 2));
    }
  }
  return Math.sqrt(sum);
}

Deno.test({
  name: "GAN in bf16: a few steps stay finite and close to fp32",
  ignore: why !== null,
  fn: async () => {
    const init = await train("fp32", 0);
    const fp32 = await train("fp32");
    const bf16 = await train("bf16");
    assertEquals(bf16.ran, "bf16");
    for (const part of ["g", "d"] as const) {
      for (const [name, a] of Object.entries(bf16[part])) {
        assert(a.data.every(Number.isFinite), `${part} ${name} not finite`);
      }
    }
    // Losses within bf16's precision of fp32's, step by step.
    for (const k of ["d", "g"] as const) {
      fp32.history[k].forEach((l, i) =>
        assert(Math.abs(bf16.history[k][i] - l) <= 0.02, `${k} loss at step ${i + 1}`)
      );
    }
    // The weights: apart by a small part of how far training moved them, but apart (bf16 ran).
    const moved = distance(init, fp32), apart = distance(fp32, bf16);
    assert(apart > 0 && apart <= 0.3 * moved, `apart ${apart}, moved ${moved}`);
  },
});

Deno.test({
  name: "GAN: a bf16 request without bf16 on the CPU (injected) trains exactly as fp32",
  ignore: !hasOneDnn,
  fn: async () => {
    const fp32 = await train("fp32");
    const fallback = await train("bf16", STEPS, env(["avx2", "fma"]));
    assertEquals(fallback.ran, "fp32");
    assertEquals(fallback.history, fp32.history);
    assertEquals(distance(fp32, fallback), 0);
  },
});
