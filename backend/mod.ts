/**
 * Picks and initialises the tensor backend, in one place. `auto` prefers the native TensorFlow
 * binding when it is installed, then WebGPU on a hardware adapter, then the fastest CPU path:
 * tfjs cpu + oneDNN kernels ("onednn"), falling back to plain "cpu" without libdnnl.
 */
import * as tf from "@tensorflow/tfjs";
import { registerPixelNorm } from "./ops/pixel_norm.ts";
import { registerPhaseConv } from "./ops/phase_conv.ts";
import { registerFastSlice } from "./patches/fast_slice.ts";
import { installEagerBackprop } from "./patches/eager_backprop.ts";
import { applyTfjsFixes } from "./patches/tfjs_bug_fixes.ts";
import { registerOneDnnBackend } from "./onednn/register_backend.ts";
import { registerLeakyRelu } from "./onednn/leaky_relu_kernels.ts";
import { registerResizeKernels } from "./onednn/resize_kernels.ts";
import { registerPhaseKernels } from "./onednn/phase_kernels.ts";
import { loadOneDnn, waitPolicy } from "./onednn/ffi.ts";
import { ensureOneDnn } from "./onednn/setup.ts";
import { type BackendLoader, defaultLoader } from "./loader.ts";
import { prepareWebGpu } from "./webgpu/register.ts";

export type BackendName = "auto" | "tensorflow" | "webgpu" | "onednn" | "wasm" | "cpu";
export const BACKEND_NAMES: BackendName[] = [
  "auto",
  "tensorflow",
  "webgpu",
  "onednn",
  "wasm",
  "cpu",
];

export interface BackendInfo {
  name: string;
  detail: string;
}

const INSTALL_TF = "the native TensorFlow backend is not installed. Install it where its " +
  "libtensorflow download can run: `deno install --allow-scripts=npm:@tensorflow/tfjs-node-gpu " +
  "npm:@tensorflow/tfjs-node-gpu` (CUDA 11.2 / cuDNN 8.1), or `...tfjs-node` for CPU; " +
  'deno.json then needs "nodeModulesDir": "auto" (docs/gpu.md)';

/** Whether oneDNN (Debian's libdnnl2) can be loaded here, i.e. whether "onednn" can run. */
export function oneDnnAvailable(): boolean {
  return loadOneDnn() !== null;
}

let current: BackendInfo | null = null;

export async function initBackend(name: BackendName = "auto"): Promise<BackendInfo> {
  if (current && (name === "auto" || name === current.name)) return current;
  // Production mode: no per-op debug checks, and no "install tfjs-node" banner on every run.
  tf.enableProdMode();
  const info = await select(name);
  applyTfjsFixes(["cpu", "onednn"]);
  // Backward frees activations and gradients as it goes (bit-identical results, lower peak).
  installEagerBackprop();
  registerPixelNorm(["cpu", "onednn"]);
  registerPhaseConv(["cpu", "onednn"]);
  registerFastSlice(["cpu", "onednn"]);
  // The one-pass leaky-ReLU gradient needs its kernel on whichever backend runs: only installed
  // with onednn (the cpu backend gets the gradient kernel so tests can switch to it).
  if (info.name === "onednn") {
    const dnn = loadOneDnn();
    registerLeakyRelu(["onednn"], ["cpu"], dnn);
    registerResizeKernels(["onednn"], dnn);
    registerPhaseKernels(dnn);
  }
  current = info;
  return info;
}

/** Picks and starts a backend; `loader` is how packages and adapters are found (tests fake it). */
export async function select(
  name: BackendName,
  loader: BackendLoader = defaultLoader,
): Promise<BackendInfo> {
  if (name === "tensorflow" || name === "auto") {
    const tfNode = await tryNative(loader);
    if (tfNode) return tfNode;
    if (name === "tensorflow") throw new Error(INSTALL_TF);
  }
  if (name === "webgpu" || name === "auto") {
    const gpu = await tryWebGpu(name === "webgpu", loader);
    if (gpu) return gpu;
    if (name === "webgpu") {
      throw new Error(
        "no WebGPU adapter is available (install the GPU's Vulkan driver; Debian's " +
          "mesa-vulkan-drivers gives a slow software one; see docs/gpu.md)",
      );
    }
  }
  if (name === "onednn" || name === "auto") {
    // Fetches Debian's libdnnl2 into the cache dir where none loads (one line says so).
    await ensureOneDnn((line) => console.error(line));
    try {
      const version = registerOneDnnBackend();
      await tf.setBackend("onednn");
      const wait = Object.entries(waitPolicy()).map(([k, v]) => `${k}=${v}`).join(" ") ||
        "OpenMP defaults";
      return {
        name: "onednn",
        detail: `tfjs cpu + oneDNN ${version} (${threads()} threads, ${wait})`,
      };
    } catch (e) {
      if (name === "onednn") throw e;
      loader.note(
        `note: ${
          (e as Error).message
        }; using the plain cpu backend (pure JS, far slower than oneDNN)`,
      );
    }
  }
  if (name === "wasm") {
    // The wasm backend lacks Conv2DBackpropFilter and the depthwise gradients: inference only.
    const spec = "@tensorflow/tfjs-backend-wasm";
    await import(spec);
    await tf.setBackend("wasm");
    return { name: "wasm", detail: "tfjs wasm (single-threaded under Deno; no conv gradients)" };
  }
  await tf.setBackend("cpu");
  return { name: "cpu", detail: "tfjs cpu (pure JS)" };
}

async function tryNative(loader: BackendLoader): Promise<BackendInfo | null> {
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    // Only where a user installed it into node_modules (its install script must have run).
    if (!(await loader.exists(`node_modules/${pkg}/package.json`))) continue;
    try {
      await loader.load(pkg);
      if (!(await loader.setBackend("tensorflow"))) throw new Error("its backend did not start");
      return { name: "tensorflow", detail: pkg };
    } catch (e) {
      loader.note(
        `note: ${pkg} is present but failed to load (${firstLine(e)}); trying the next backend`,
      );
    }
  }
  return null;
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0];
}

async function tryWebGpu(explicit: boolean, loader: BackendLoader): Promise<BackendInfo | null> {
  const adapter = await loader.requestAdapter();
  if (!adapter) return null;
  const desc = `${adapter.info?.vendor ?? ""} ${adapter.info?.description ?? ""}`.trim();
  // A software rasteriser (llvmpipe) is far slower than our CPU path: never pick it by itself.
  const software = adapter.isFallbackAdapter || adapter.info?.isFallbackAdapter ||
    /llvmpipe|swiftshader|software/i.test(desc);
  if (software && !explicit) return null;
  try {
    await loader.load("@tensorflow/tfjs-backend-webgpu");
    if (!(await loader.setBackend("webgpu"))) throw new Error("its backend did not start");
  } catch (e) {
    if (explicit) throw e;
    loader.note(
      `note: WebGPU (${desc}) failed to start (${firstLine(e)}); trying the next backend`,
    );
    return null;
  }
  prepareWebGpu();
  return { name: "webgpu", detail: `WebGPU ${desc || "adapter"}${software ? " (software)" : ""}` };
}

function threads(): string {
  return Deno.env.get("OMP_NUM_THREADS") ?? String(navigator.hardwareConcurrency);
}
