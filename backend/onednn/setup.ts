/**
 * Gets oneDNN ready for this process: loads it, or provisions Debian's package into the cache dir
 * and loads that, saying in one line what it did. `deno run -A backend/onednn/setup.ts` does the
 * same ahead of time (the test task runs it first, so oneDNN's tests run on a fresh machine).
 */
import { loadOneDnn, oneDnnLoadError, reloadOneDnn, tryOpenLibrary } from "./ffi.ts";
import {
  describeProvision,
  oneDnnCacheDir,
  provisionOneDnn,
  type ProvisionResult,
} from "./provision.ts";

/** True when oneDNN is loaded; otherwise `oneDnnLoadError()` and the logged note say why. */
export async function ensureOneDnn(log: (line: string) => void): Promise<boolean> {
  if (loadOneDnn()) return true;
  const result: ProvisionResult = await provisionOneDnn({ tryOpen: tryOpenLibrary });
  if (result.status !== "unavailable" && reloadOneDnn()) {
    if (result.status === "fetched") log(describeProvision(result, oneDnnCacheDir()));
    return true;
  }
  if (result.status === "unavailable") log(describeProvision(result, oneDnnCacheDir()));
  else log(`note: oneDNN could not be loaded: ${oneDnnLoadError()}`);
  return false;
}

if (import.meta.main) {
  const ok = await ensureOneDnn((line) => console.log(line));
  const d = loadOneDnn();
  if (ok && d) console.log(`oneDNN ${d.version} loads from ${d.path}`);
}
