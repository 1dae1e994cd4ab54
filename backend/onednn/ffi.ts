/**
 * oneDNN 2.6 (Debian libdnnl2) through Deno FFI. Only the C API calls we need: memory
 * descriptors by strides (so tfjs's NHWC buffers are used in place) or by tag (`any`: the
 * primitive picks), conv forward/backward-data/backward-weights (grouped for depthwise), matmul,
 * eltwise, binary, reduction, reorders, primitive creation and execution. ABI facts (struct
 * sizes, enum values) are from the 2.6 headers (Debian's libdnnl-dev). Descriptors and
 * primitives built on these calls: memory_desc.ts, primitive.ts.
 */

import os from "node:os";
import process from "node:process";
import { type LibraryCandidate, oneDnnCandidates } from "./provision.ts";

export const DNNL = {
  bf16: 2,
  f32: 3,
  forwardTraining: 64,
  forwardInference: 96,
  convolutionDirect: 1,
  cpu: 1,
  streamDefault: 1,
  mdSize: 696,
  convDescSize: 5976,
  matmulDescSize: 2800,
  eltwiseDescSize: 1416,
  binaryDescSize: 2096,
  reductionDescSize: 1408,
  formatAny: 1,
  queryImplInfoStr: 8,
  queryExecArgMd: 255,
  queryWeightsMd: 131,
  queryDiffWeightsMd: 132,
  argSrc1: 2,
  argFrom: 1,
  argTo: 17,
  argSrc: 1,
  argDst: 17,
  argWeights: 33,
  argBias: 41,
  eltwiseRelu: 0x1f,
  argDiffSrc: 129,
  argDiffDst: 145,
  argDiffWeights: 161,
} as const;

const symbols = {
  dnnl_engine_create: { parameters: ["buffer", "i32", "usize"], result: "i32" },
  dnnl_stream_create: { parameters: ["buffer", "pointer", "u32"], result: "i32" },
  dnnl_memory_desc_init_by_strides: {
    parameters: ["buffer", "i32", "buffer", "i32", "buffer"],
    result: "i32",
  },
  dnnl_dilated_convolution_forward_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "i32",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_dilated_convolution_backward_data_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_dilated_convolution_backward_weights_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_primitive_destroy: { parameters: ["pointer"], result: "i32" },
  dnnl_primitive_desc_destroy: { parameters: ["pointer"], result: "i32" },
  dnnl_memory_destroy: { parameters: ["pointer"], result: "i32" },
  dnnl_matmul_desc_init: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  dnnl_primitive_desc_create: {
    parameters: ["buffer", "buffer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_primitive_create: { parameters: ["buffer", "pointer"], result: "i32" },
  dnnl_memory_create: { parameters: ["buffer", "buffer", "pointer", "pointer"], result: "i32" },
  dnnl_memory_set_data_handle: { parameters: ["pointer", "buffer"], result: "i32" },
  dnnl_primitive_execute: { parameters: ["pointer", "pointer", "i32", "buffer"], result: "i32" },
  dnnl_stream_wait: { parameters: ["pointer"], result: "i32" },
  dnnl_version: { parameters: [], result: "pointer" },
  dnnl_get_effective_cpu_isa: { parameters: [], result: "i32" },
  dnnl_memory_desc_init_by_tag: {
    parameters: ["buffer", "i32", "buffer", "i32", "i32"],
    result: "i32",
  },
  dnnl_memory_desc_equal: { parameters: ["buffer", "buffer"], result: "i32" },
  dnnl_memory_desc_get_size: { parameters: ["buffer"], result: "usize" },
  dnnl_primitive_desc_query_md: { parameters: ["pointer", "i32", "i32"], result: "pointer" },
  dnnl_primitive_desc_query: {
    parameters: ["pointer", "i32", "i32", "buffer"],
    result: "i32",
  },
  dnnl_reorder_primitive_desc_create: {
    parameters: ["buffer", "buffer", "pointer", "buffer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_eltwise_forward_desc_init: {
    parameters: ["buffer", "i32", "i32", "buffer", "f32", "f32"],
    result: "i32",
  },
  dnnl_eltwise_backward_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "f32", "f32"],
    result: "i32",
  },
  dnnl_binary_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  dnnl_primitive_attr_create: { parameters: ["buffer"], result: "i32" },
  dnnl_post_ops_create: { parameters: ["buffer"], result: "i32" },
  dnnl_post_ops_append_sum: { parameters: ["pointer", "f32"], result: "i32" },
  dnnl_post_ops_append_eltwise: {
    parameters: ["pointer", "f32", "i32", "f32", "f32"],
    result: "i32",
  },
  dnnl_primitive_attr_set_post_ops: { parameters: ["pointer", "pointer"], result: "i32" },
  dnnl_concat_primitive_desc_create: {
    parameters: ["buffer", "buffer", "i32", "i32", "buffer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_pooling_forward_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "i32",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_reduction_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "f32", "f32"],
    result: "i32",
  },
} as const;

type Lib = Deno.DynamicLibrary<typeof symbols>["symbols"];

/** libgomp's thread-count calls (oneDNN's OpenMP runtime, loaded with it). */
const gompSymbols = {
  omp_set_num_threads: { parameters: ["i32"], result: "void" },
  omp_get_max_threads: { parameters: [], result: "i32" },
} as const;

export interface OneDnn {
  lib: Lib;
  /** OpenMP's thread count, or null where libgomp's symbols cannot be reached. */
  omp: Deno.DynamicLibrary<typeof gompSymbols>["symbols"] | null;
  engine: Deno.PointerValue;
  stream: Deno.PointerValue;
  version: string;
  /** The file or soname it was loaded from. */
  path: string;
}

let loaded: OneDnn | null | undefined;
let loadError = "";

/**
 * How idle OpenMP workers wait between parallel regions (read once, when libgomp starts; an
 * explicit OMP_WAIT_POLICY or GOMP_SPINCOUNT wins). Between two primitives the main thread runs
 * JS (tfjs bookkeeping, small kernels) for tens of microseconds:
 * - on an idle machine workers spin briefly (GOMP_SPINCOUNT 20000, tens of microseconds)
 *   before sleeping, so the next primitive does not pay a futex wake-up per worker (measured
 *   here: a 64² decode 1.2 -> 0.5 ms, a latent GAN step 70 -> 55 ms);
 * - when other processes keep the cores busy, workers sleep at once (PASSIVE): a spinning
 *   worker takes the core the main thread or another job needs, and each parallel region
 *   waited milliseconds for a descheduled worker (a latent GAN step 85 -> 240 ms with two
 *   busy processes on 2 cores).
 * "Busy" is sampled over 50 ms (`busyFraction`); where it cannot be (no --allow-sys) workers
 * sleep.
 */
function chooseWaitPolicy(): void {
  if (Deno.env.get("OMP_WAIT_POLICY") || Deno.env.get("GOMP_SPINCOUNT")) return;
  const busy = busyFraction(50);
  if (busy !== null && busy < 0.25) Deno.env.set("GOMP_SPINCOUNT", "20000");
  else Deno.env.set("OMP_WAIT_POLICY", "PASSIVE");
}

/**
 * The OpenMP wait setting this process runs with (`chooseWaitPolicy`'s choice, or the user's), as
 * environment variables: for reports, and to give a peer benchmark (torch) the same setting.
 */
export function waitPolicy(): Record<string, string> {
  const spin = Deno.env.get("GOMP_SPINCOUNT"), policy = Deno.env.get("OMP_WAIT_POLICY");
  return {
    ...(policy ? { OMP_WAIT_POLICY: policy } : {}),
    ...(spin ? { GOMP_SPINCOUNT: spin } : {}),
  };
}

/**
 * Share of all cores' time that other processes kept busy over the next `ms` (node's os.cpus()
 * times, which need --allow-sys; reading /proc/stat directly needs --allow-all under Deno),
 * minus this process's own CPU time (its start-up work, JIT and GC threads must not count as
 * load), or null where it cannot be measured.
 */
export function busyFraction(ms: number): number | null {
  const sample = (): [number, number, number] | null => {
    try {
      let busy = 0, total = 0;
      for (const { times: t } of os.cpus()) {
        busy += t.user + t.nice + t.sys + t.irq;
        total += t.user + t.nice + t.sys + t.irq + t.idle;
      }
      const u = process.cpuUsage(); // microseconds; os.cpus() counts milliseconds
      return [busy, total, (u.user + u.system) / 1e3];
    } catch {
      return null;
    }
  };
  const a = sample();
  if (!a) return null;
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  const b = sample();
  if (!b || b[1] === a[1]) return null;
  return Math.min(1, Math.max(0, (b[0] - a[0]) - (b[2] - a[2])) / (b[1] - a[1]));
}

/**
 * Loads libdnnl once, from the first of `oneDnnCandidates()` that opens; null (with
 * `oneDnnLoadError()` saying why) when none does. `provisionOneDnn` can add a candidate; then
 * `reloadOneDnn()` tries again.
 */
export function loadOneDnn(): OneDnn | null {
  if (loaded !== undefined) return loaded;
  const errors: string[] = [];
  for (const candidate of oneDnnCandidates()) {
    try {
      loaded = openOneDnn(candidate);
      return loaded;
    } catch (e) {
      errors.push(e instanceof Error ? e.message : String(e));
    }
  }
  loadError = errors.join("; ");
  loaded = null;
  return loaded;
}

/** Forgets a failed load, so the next `loadOneDnn()` looks again (after provisioning). */
export function reloadOneDnn(): OneDnn | null {
  if (loaded === null) loaded = undefined;
  return loadOneDnn();
}

/**
 * OpenMP reads its settings once, when libgomp initialises: they are set before the first
 * library is opened, by whoever opens it first.
 */
function setOpenMpEnvironment(): void {
  if (!Deno.env.get("OMP_NUM_THREADS")) {
    Deno.env.set("OMP_NUM_THREADS", String(navigator.hardwareConcurrency || 1));
  }
  chooseWaitPolicy();
}

/** Opens a candidate after its preloads (for provisioning); the error message, or null. */
export function tryOpenLibrary(c: LibraryCandidate): string | null {
  setOpenMpEnvironment();
  try {
    for (const p of c.preload) Deno.dlopen(p, {});
    Deno.dlopen(c.path, {}).close();
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

function openOneDnn(c: LibraryCandidate): OneDnn {
  setOpenMpEnvironment();
  // Dependencies fetched beside a cached copy stay loaded: libdnnl's own references resolve to them.
  for (const p of c.preload) Deno.dlopen(p, {});
  const dl = Deno.dlopen(c.path, symbols);
  const lib = dl.symbols;
  const v = new Deno.UnsafePointerView(lib.dnnl_version()!);
  const version = `${v.getInt32(0)}.${v.getInt32(4)}.${v.getInt32(8)}`;
  if (!version.startsWith("2.6.")) {
    dl.close();
    // The bindings hard-code 2.6's struct sizes and enum values: another version would corrupt.
    throw new Error(`${c.path} is oneDNN ${version}; ganflow's bindings need oneDNN 2.6`);
  }
  const engineOut = new BigUint64Array(1);
  check(lib.dnnl_engine_create(u8(engineOut), DNNL.cpu, 0n), "engine_create");
  const engine = Deno.UnsafePointer.create(engineOut[0]);
  const streamOut = new BigUint64Array(1);
  check(lib.dnnl_stream_create(u8(streamOut), engine, DNNL.streamDefault), "stream_create");
  let omp = null;
  try {
    omp = Deno.dlopen("libgomp.so.1", gompSymbols).symbols;
  } catch {
    // A oneDNN built on another threading runtime: every primitive uses all threads.
  }
  return {
    lib,
    omp,
    engine,
    stream: Deno.UnsafePointer.create(streamOut[0]),
    version,
    path: c.path,
  };
}

export function oneDnnLoadError(): string {
  return loadError;
}

export function check(status: number, what: string): void {
  if (status !== 0) throw new Error(`oneDNN ${what} failed with status ${status}`);
}

export function u8(a: ArrayBufferView): Uint8Array<ArrayBuffer> {
  return new Uint8Array(a.buffer as ArrayBuffer, a.byteOffset, a.byteLength);
}
