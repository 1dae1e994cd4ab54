/**
 * The precision training computes in: "fp32" everywhere, or "bf16" on the onednn backend where
 * the CPU has bf16 instructions (AVX-512 BF16 or AMX): convolutions (forward and both gradients)
 * and matmuls read bf16 copies of their inputs and accumulate and write float32
 * (backend/onednn/bf16.ts), so weights, gradients and optimizer state stay float32. Elsewhere a
 * bf16 request runs fp32, with one note saying why; `usePrecision` says what actually runs, so a
 * stage can record it.
 */
import * as tf from "@tensorflow/tfjs";
import { bf16Enabled, setBf16 } from "./onednn/bf16.ts";
import { loadOneDnn } from "./onednn/ffi.ts";
import { cpuFlags } from "./cpu_features.ts";

export type Precision = "fp32" | "bf16";
export const PRECISIONS: readonly Precision[] = ["fp32", "bf16"];

/** What decides whether bf16 can run (tests inject their own). */
export interface PrecisionEnv {
  /** The active tfjs backend. */
  backend: string;
  /** The CPU's /proc/cpuinfo flags. */
  cpuFlags: Set<string>;
  /** oneDNN's effective ISA (`dnnl_get_effective_cpu_isa`), or null where it is not loaded. */
  oneDnnIsa: number | null;
}

/** dnnl_cpu_isa_t's bit of the ISAs with bf16 instructions (avx512_core_bf16, AMX). */
const ISA_BF16_BIT = 0x80;

export function currentPrecisionEnv(): PrecisionEnv {
  const d = tf.getBackend() === "onednn" ? loadOneDnn() : null;
  return {
    backend: tf.getBackend(),
    cpuFlags: cpuFlags(),
    oneDnnIsa: d ? d.lib.dnnl_get_effective_cpu_isa() : null,
  };
}

/** Why bf16 cannot run in `env`, or null where it can. */
export function bf16Unavailable(env: PrecisionEnv = currentPrecisionEnv()): string | null {
  if (env.backend !== "onednn") {
    return `bf16 runs on the onednn backend only (this run uses ${env.backend})`;
  }
  if (!env.cpuFlags.has("avx512_bf16") && !env.cpuFlags.has("amx_bf16")) {
    return "this CPU has neither AVX-512 BF16 nor AMX (no avx512_bf16 or amx_bf16 flag in " +
      "/proc/cpuinfo)";
  }
  if (env.oneDnnIsa !== null && !(env.oneDnnIsa & ISA_BF16_BIT)) {
    return "oneDNN does not use its bf16 instructions here (is ONEDNN_MAX_CPU_ISA set?)";
  }
  return null;
}

/** A precision in force until `end()`. */
export interface PrecisionScope {
  /** What runs: the request, or fp32 where bf16 cannot run. */
  precision: Precision;
  /** The note printed when the request could not be met, else null. */
  note: string | null;
  /** Restores the precision in force before. */
  end(): void;
}

/**
 * Runs the convs and matmuls of the onednn backend in `requested` precision until `end()`;
 * where bf16 cannot run, prints one note through `log` and runs fp32.
 */
export function usePrecision(
  requested: Precision,
  opts: { env?: PrecisionEnv; log?: (line: string) => void } = {},
): PrecisionScope {
  const before = bf16Enabled();
  let precision: Precision = "fp32", note: string | null = null;
  if (requested === "bf16") {
    const why = bf16Unavailable(opts.env ?? currentPrecisionEnv());
    if (why === null) precision = "bf16";
    else {
      note = `note: bf16 requested, but ${why}: training runs in fp32`;
      (opts.log ?? console.error)(note);
    }
  }
  setBf16(precision === "bf16");
  return { precision, note, end: () => setBf16(before) };
}
