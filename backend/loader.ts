/**
 * How backend selection finds things: installed packages, the WebGPU adapter, tfjs's backend
 * switch, and where notes go. One object, so a test can stand in a package that is present but
 * fails to load, or an adapter that is or is not there, without installing anything.
 */
import * as tf from "@tensorflow/tfjs";

/** What selection needs to know about a WebGPU adapter. */
export interface AdapterLike {
  isFallbackAdapter?: boolean;
  info?: { vendor?: string; description?: string; isFallbackAdapter?: boolean };
}

export interface BackendLoader {
  /** Whether a file exists (a package's package.json under node_modules). */
  exists(path: string): Promise<boolean>;
  /** Imports a package for its side effect (registering a tfjs backend); throws if it fails. */
  load(specifier: string): Promise<unknown>;
  /** tfjs's setBackend: false (or a throw) when the backend failed to initialise. */
  setBackend(name: string): Promise<boolean>;
  /** The WebGPU adapter, or null where there is none. */
  requestAdapter(): Promise<AdapterLike | null>;
  /** One line for the user (stderr). */
  note(line: string): void;
}

type NavigatorWithGpu = Navigator & { gpu?: { requestAdapter(): Promise<AdapterLike | null> } };

export const defaultLoader: BackendLoader = {
  exists: async (path) => {
    try {
      await Deno.stat(path);
      return true;
    } catch {
      return false;
    }
  },
  // A variable specifier: the package is optional, so Deno must not resolve it up front.
  load: (specifier) => import(specifier),
  setBackend: (name) => tf.setBackend(name),
  requestAdapter: async () => {
    const gpu = (navigator as NavigatorWithGpu).gpu;
    if (!gpu) return null;
    return await withRuntimeDir(() => gpu.requestAdapter().catch(() => null));
  },
  note: (line) => console.error(line),
};

/**
 * `f()` with XDG_RUNTIME_DIR set. Mesa's Vulkan drivers print "XDG_RUNTIME_DIR is invalid or not
 * set" while an adapter is looked for in a process without a login session (CI, ssh, cluster
 * jobs); they only need the variable to name a private directory then. Where it is unset, one is
 * made for the call, and the variable and the directory are gone after it.
 */
export async function withRuntimeDir<T>(f: () => Promise<T>): Promise<T> {
  if (Deno.env.get("XDG_RUNTIME_DIR")) return await f();
  const dir = await Deno.makeTempDir({ prefix: "ganflow-runtime-" }); // mode 0700
  Deno.env.set("XDG_RUNTIME_DIR", dir);
  try {
    return await f();
  } finally {
    Deno.env.delete("XDG_RUNTIME_DIR");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
