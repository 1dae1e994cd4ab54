/** ganflow's per-user cache directory: downloaded weights, provisioned native libraries. */
import { join } from "node:path";

/** `$GANFLOW_CACHE`, else `$XDG_CACHE_HOME/ganflow`, else `~/.cache/ganflow`. */
export function ganflowCacheDir(): string {
  const explicit = readEnv("GANFLOW_CACHE");
  if (explicit) return explicit;
  const xdg = readEnv("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "ganflow");
  return join(readEnv("HOME") ?? ".", ".cache", "ganflow");
}

/** An environment variable, or undefined where it is unset, empty or not readable. */
export function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no --allow-env
  }
}
