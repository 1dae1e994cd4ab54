/**
 * For tests: whether oneDNN loads in this process. Where it does not, the reason is printed once
 * per test module, so each oneDNN test that shows as "ignored" (or a backend list without onednn)
 * is explained in the output. The test task provisions it first (backend/onednn/setup.ts).
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../mod.ts";
import { loadOneDnn, oneDnnLoadError } from "./ffi.ts";

export const hasOneDnn = loadOneDnn() !== null;
if (!hasOneDnn) {
  console.log(
    `oneDNN tests ignored: ${oneDnnLoadError()} (deno run -A backend/onednn/setup.ts fetches it)`,
  );
}

/** The backends a kernel test compares: onednn and cpu where oneDNN loads, else cpu alone. */
export const testBackends: ("onednn" | "cpu")[] = hasOneDnn ? ["onednn", "cpu"] : ["cpu"];

/** Starts the onednn backend and checks that it is the one running. */
export async function useOneDnn(): Promise<void> {
  await initBackend("onednn");
  if (tf.getBackend() !== "onednn") throw new Error(`onednn did not start: ${tf.getBackend()}`);
}

/** Runs `f` on the cpu backend (the reference), then switches back to onednn. */
export async function onCpu<T>(f: () => T): Promise<T> {
  await initBackend("cpu");
  try {
    return f();
  } finally {
    await useOneDnn();
  }
}
