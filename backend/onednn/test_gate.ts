/**
 * For tests: whether oneDNN loads in this process. Where it does not, the reason is printed once
 * per test module, so each oneDNN test that shows as "ignored" (or a backend list without onednn)
 * is explained in the output. The test task provisions it first (backend/onednn/setup.ts).
 */
import { loadOneDnn, oneDnnLoadError } from "./ffi.ts";

export const hasOneDnn = loadOneDnn() !== null;
if (!hasOneDnn) {
  console.log(
    `oneDNN tests ignored: ${oneDnnLoadError()} (deno run -A backend/onednn/setup.ts fetches it)`,
  );
}

/** The backends a kernel test compares: onednn and cpu where oneDNN loads, else cpu alone. */
export const testBackends: ("onednn" | "cpu")[] = hasOneDnn ? ["onednn", "cpu"] : ["cpu"];
