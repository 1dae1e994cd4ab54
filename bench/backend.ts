/**
 * `deno task bench backend`: the reference GAN step of the backend issue on each available
 * backend, the same network in PyTorch (/usr/bin/python3) in the same run, and the GFLOP/s of a
 * lone 3x3 64->64 conv on 32x64x64. Prints ratios; absolute figures depend on the machine.
 * On onednn the step also runs in bf16 (backend/precision.ts) where the CPU has it, next to
 * fp32: `--precision=fp32` or `--precision=bf16` runs one of them.
 */
import type { BenchRecorder } from "./results.ts";
import * as tf from "@tensorflow/tfjs";
import { type BackendName, initBackend } from "../backend/mod.ts";
import { loadOneDnn, waitPolicy } from "../backend/onednn/ffi.ts";
import { median } from "../nn/stats.ts";
import { twoStageStep } from "../train/gan_step.ts";
import { flag, numberFlag } from "./flags.ts";
import { onDevice } from "../backend/host_read.ts";
import { deviceBatch, deviceGanStepMs } from "./backend_device.ts";
import { referenceTraining, Z } from "./reference_nets.ts";
import { type Precision, PRECISIONS, usePrecision } from "../backend/precision.ts";
import { bf16Conversions } from "../backend/onednn/bf16.ts";
import { setPhaseConvs } from "../backend/ops/phase_conv.ts";

/**
 * ms per (D step + G step) after warm-up, on the current backend: median (and mean, min, max) of
 * steps, and the process CPU time per step (all threads; less sensitive to other load than wall
 * time).
 */
export function ganStepMs(
  size: number,
  batch: number,
  steps: number,
  beforeTimed?: () => void,
): {
  ms: number;
  mean: number;
  min: number;
  max: number;
  cpuMs: number;
  gParams: number;
  dParams: number;
} {
  const { rng, g, d, og, od, real, nets } = referenceTraining(size, batch);
  const step = () => {
    const z1 = tf.tensor2d(rng.normalArray(batch * Z), [batch, Z]);
    const z2 = tf.tensor2d(rng.normalArray(batch * Z), [batch, Z]);
    twoStageStep(nets, real, z1, z2, od, og);
    tf.dispose([z1, z2]);
  };
  for (let i = 0; i < 2; i++) step();
  beforeTimed?.();
  const cpu = processCpuClock(), cpu0 = cpu();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  const mean = times.reduce((a, b) => a + b, 0) / steps;
  const cpuMs = (cpu() - cpu0) / steps;
  const out = {
    ms: median(times),
    mean,
    min: Math.min(...times),
    max: Math.max(...times),
    cpuMs,
    gParams: g.count(),
    dParams: d.count(),
  };
  g.dispose();
  d.dispose();
  og.dispose();
  od.dispose();
  real.dispose();
  return out;
}

function convGflops(): { fwd: number; bwd: number } {
  const x = tf.randomNormal([32, 64, 64, 64], 0, 1, "float32", 1) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 64, 64], 0, 1, "float32", 2) as tf.Tensor4D;
  const flop = 2 * 32 * 64 * 64 * 64 * 64 * 9;
  const time = (f: () => void) => {
    f();
    const t0 = performance.now();
    for (let i = 0; i < 3; i++) f();
    return (performance.now() - t0) / 3 / 1000;
  };
  const fwd = time(() => tf.tidy(() => void tf.conv2d(x, w, 1, "same").dataSync()));
  const dy = tf.randomNormal([32, 64, 64, 64], 0, 1, "float32", 3) as tf.Tensor4D;
  const bwd = time(() =>
    tf.tidy(() => {
      tf.conv2dTranspose(dy, w, [32, 64, 64, 64], 1, "same").dataSync(); // input gradient
      (tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
        strides: 1,
        pad: "same",
        dataFormat: "NHWC",
        filterShape: [3, 3, 64, 64],
      }) as tf.Tensor).dataSync();
    })
  );
  tf.dispose([x, w, dy]);
  return { fwd: flop / fwd / 1e9, bwd: (2 * flop) / bwd / 1e9 };
}

/** The environment before our backend set OpenMP variables: torch's own (`--torch-defaults`). */
const TORCH_ENV = Deno.env.toObject();

interface TorchRun {
  ms_per_step: number;
  median_ms: number;
  steps_ms: number[];
  cpu_ms_per_step: number;
}

function torchStep(
  size: number,
  batch: number,
  steps: number,
  env: Record<string, string>,
): TorchRun | null {
  try {
    const out = new Deno.Command("/usr/bin/python3", {
      args: [
        new URL("./torch_ref/backend_step.py", import.meta.url).pathname,
        "--steps",
        String(steps),
        "--size",
        String(size),
        "--batch",
        String(batch),
        "--threads",
        String(navigator.hardwareConcurrency),
      ],
      env,
      clearEnv: true,
    }).outputSync();
    if (out.code !== 0) return null;
    return JSON.parse(new TextDecoder().decode(out.stdout).trim());
  } catch {
    return null;
  }
}

/** This process's CPU time in ms (all threads), via clock_gettime(CLOCK_PROCESS_CPUTIME_ID). */
function processCpuClock(): () => number {
  try {
    const libc = Deno.dlopen("libc.so.6", {
      clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
    });
    const ts = new BigInt64Array(2);
    const buf = new Uint8Array(ts.buffer);
    return () => {
      libc.symbols.clock_gettime(2, buf);
      return Number(ts[0]) * 1e3 + Number(ts[1]) / 1e6;
    };
  } catch {
    return () => NaN;
  }
}

/**
 * Wraps every kernel of `backendName` with timers (wall and process CPU time, which counts all
 * threads and is less sensitive to other load) and counts calls; returns a report function.
 * Time outside kernels (tape, tidy, dispose, JS glue) shows as the step total minus the sum.
 */
function profileKernels(backendName: string) {
  const cpu = processCpuClock();
  const stats = new Map<string, { ms: number; cpu: number; calls: number }>();
  for (const k of tf.getKernelsForBackend(backendName)) {
    const inner = k.kernelFunc;
    const s = { ms: 0, cpu: 0, calls: 0 };
    stats.set(k.kernelName, s);
    tf.unregisterKernel(k.kernelName, backendName);
    tf.registerKernel({
      ...k,
      kernelFunc: (args) => {
        const c0 = cpu(), t0 = performance.now();
        const out = inner(args);
        s.ms += performance.now() - t0;
        s.cpu += cpu() - c0;
        s.calls++;
        return out;
      },
    });
  }
  let cpuStart = 0;
  return {
    reset: () => {
      stats.forEach((s) => (s.ms = s.cpu = s.calls = 0));
      cpuStart = cpu();
    },
    report: (steps: number, stepMs: number) => {
      const cpuStep = (cpu() - cpuStart) / steps;
      const rows = [...stats].filter(([, s]) => s.calls > 0).sort((a, b) => b[1].ms - a[1].ms);
      const line = (name: string, ms: number, cpuMs: number, calls = "") =>
        console.log(
          `  ${name.padEnd(28)} ${ms.toFixed(1).padStart(7)} ms/step ${
            cpuMs.toFixed(1).padStart(7)
          } cpu-ms/step ${calls}`,
        );
      let total = 0, totalCpu = 0;
      for (const [name, s] of rows) {
        total += s.ms / steps;
        totalCpu += s.cpu / steps;
        line(
          name,
          s.ms / steps,
          s.cpu / steps,
          `${(s.calls / steps).toFixed(0).padStart(4)} calls`,
        );
      }
      line("(all kernels)", total, totalCpu);
      line("(outside kernels)", stepMs - total, cpuStep - totalCpu);
    },
  };
}

/** Times the reference step on a host backend in `precision` (in force), records and prints it. */
function hostStep(
  info: { name: string; detail: string },
  precision: Precision,
  o: {
    size: number;
    batch: number;
    steps: number;
    prof: ReturnType<typeof profileKernels> | null;
    rec?: BenchRecorder;
  },
): ReturnType<typeof ganStepMs> {
  const { size, batch, steps, prof, rec } = o;
  const bf16 = precision === "bf16";
  const name = bf16 ? `${info.name}-bf16` : info.name;
  const conversions = bf16Conversions();
  const r = ganStepMs(size, batch, steps, prof?.reset);
  rec?.figure(
    `backend.step.${name}.${size}.ms`,
    `${info.name} step${bf16 ? " in bf16" : ""}, ${size}², batch ${batch}`,
    r.ms,
    "ms",
    [r.min, r.max],
  );
  console.log(
    `${name.padEnd(11)} ${r.ms.toFixed(0).padStart(6)} ms/step  ${
      (batch * 1000 / r.ms).toFixed(1).padStart(7)
    } img/s  (spread ${r.min.toFixed(0)}-${r.max.toFixed(0)} ms, mean ${
      r.mean.toFixed(0)
    } ms, CPU ${r.cpuMs.toFixed(0)} ms; G ${r.gParams} params, D ${r.dParams})  ${info.detail}`,
  );
  prof?.report(steps, r.mean);
  if (bf16) {
    const n = (bf16Conversions() - conversions) / (steps + 2); // with the two warm-up steps
    console.log(
      `${"".padEnd(11)} bf16 copies of activations and gradients: ${n.toFixed(0)} per step`,
    );
  }
  const c = convGflops();
  console.log(
    `${"".padEnd(11)} conv3x3 64->64 on 32x64x64: forward ${c.fwd.toFixed(1)} GFLOP/s, backward ${
      c.bwd.toFixed(1)
    } GFLOP/s`,
  );
  return r;
}

export async function benchBackend(args: string[], rec?: BenchRecorder): Promise<void> {
  const size = args.includes("--32") ? 32 : 64;
  const batch = deviceBatch(args) ?? 32; // --batch=N: e.g. small, for a software adapter
  const steps = numberFlag(args, "steps", 5);
  // --no-phases: G's upsampling convs as upsample + 3x3 conv instead of phase convs.
  const phases = !args.includes("--no-phases");
  setPhaseConvs(phases);
  const named = flag(args, "backend") as BackendName | undefined;
  const precisions = (flag(args, "precision") ?? "fp32,bf16").split(",") as Precision[];
  const unknown = precisions.filter((p) => !PRECISIONS.includes(p));
  if (unknown.length) throw new Error(`--precision: ${unknown} (fp32, bf16 or fp32,bf16)`);
  const backends: BackendName[] = named
    ? [named]
    : args.includes("--all")
    ? ["onednn", "cpu"]
    : ["onednn"];
  if (!phases) rec?.note("G's upsampling convs ran as upsample + conv (--no-phases)");
  console.log(
    `reference GAN step: ${size}x${size}, batch ${batch}, ${steps} timed steps on each side ` +
      `(G's upsampling convs as ${phases ? "phase convs" : "upsample + conv"}) ` +
      `(medians, min-max spread; torch's are split before and after ours, so load changes hit ` +
      `both alike)`,
  );
  // Torch's idle OpenMP threads wait as ours were told to (backend/onednn/ffi.ts: a short spin
  // on an idle machine, sleeping at once on a busy one). --torch-defaults gives torch its own
  // long spin-then-sleep instead, which degrades badly when other processes load the machine.
  const sameWait = !args.includes("--torch-defaults");
  loadOneDnn(); // picks our OpenMP wait policy (an environment variable) before torch starts
  const ours = waitPolicy();
  const torchEnv = sameWait ? { ...TORCH_ENV, ...ours } : TORCH_ENV;
  const torchHalves = [Math.ceil(steps / 2), Math.floor(steps / 2)];
  const torchBefore = torchStep(size, batch, torchHalves[0], torchEnv);
  let best = Infinity, bestCpu = NaN;
  // The onednn step in each precision, for their ratio.
  const byPrecision = new Map<Precision, number>();
  for (const b of backends) {
    try {
      const info = await initBackend(b);
      const prof = args.includes("--profile") ? profileKernels(info.name) : null;
      if (onDevice()) {
        // A GPU backend: steps are queued and timed to completion (backend_device.ts).
        const r = await deviceGanStepMs(size, batch, steps);
        if (r.ms < best) [best, bestCpu] = [r.ms, NaN];
        rec?.figure(
          `backend.step.${info.name}.${size}.ms`,
          `${info.name} step, ${size}², batch ${batch}`,
          r.ms,
          "ms",
        );
        console.log(
          `${info.name.padEnd(8)} ${r.ms.toFixed(0).padStart(6)} ms/step  ${info.detail}`,
        );
        continue;
      }
      for (const precision of info.name === "onednn" ? precisions : ["fp32" as const]) {
        const scope = usePrecision(precision, { log: (l) => console.log(l) });
        if (scope.precision !== precision) {
          // No bf16 here: the fp32 step is (or is not) measured as itself, not twice.
          rec?.note(scope.note!);
          scope.end();
          continue;
        }
        try {
          const r = hostStep(info, precision, { size, batch, steps, prof, rec });
          if (precision === "fp32" && r.ms < best) [best, bestCpu] = [r.ms, r.cpuMs];
          if (info.name === "onednn") byPrecision.set(precision, r.ms);
        } finally {
          scope.end();
        }
      }
    } catch (e) {
      console.log(`${b.padEnd(8)} unavailable: ${(e as Error).message}`);
    }
  }
  const fp32 = byPrecision.get("fp32"), bf16 = byPrecision.get("bf16");
  if (fp32 !== undefined && bf16 !== undefined) {
    rec?.figure(
      `backend.fp32_over_bf16_${size}`,
      "onednn step time, fp32 / bf16 (bf16's speed-up)",
      fp32 / bf16,
      "x",
    );
    console.log(`bf16 speed-up over fp32 (onednn step): ${(fp32 / bf16).toFixed(2)}x`);
  }
  const torchAfter = torchHalves[1] > 0 ? torchStep(size, batch, torchHalves[1], torchEnv) : null;
  const runs = [torchBefore, torchAfter].filter((t): t is TorchRun => t !== null);
  if (runs.length) {
    const times = runs.flatMap((t) => t.steps_ms);
    const ms = median(times);
    const cpuMs = runs.reduce((a, t) => a + t.cpu_ms_per_step * t.steps_ms.length, 0) /
      times.length;
    const wait = sameWait
      ? Object.entries(ours).map(([k, v]) => `${k}=${v}`).join(" ") || "OpenMP defaults"
      : "its own OpenMP defaults";
    console.log(
      `torch    ${ms.toFixed(0).padStart(6)} ms/step  ${
        (batch * 1000 / ms).toFixed(1).padStart(7)
      } img/s  (spread ${Math.min(...times).toFixed(0)}-${
        Math.max(...times).toFixed(0)
      } ms over ${times.length} steps, PyTorch ${navigator.hardwareConcurrency} threads, ${wait}; ` +
        `medians before/after: ${runs.map((t) => t.median_ms.toFixed(0)).join("/")} ms; CPU ${
          cpuMs.toFixed(0)
        } ms)`,
    );
    rec?.figure(
      `backend.step.torch.${size}.ms`,
      `PyTorch 1.13 step, ${size}², batch ${batch} (${wait})`,
      ms,
      "ms",
      times,
    );
    if (Number.isFinite(best)) {
      rec?.figure(
        `backend.torch_over_onednn_${size}`,
        "PyTorch's step time / ours",
        ms / best,
        "x",
      );
      console.log(
        `ratio vs torch: ${
          (ms / best).toFixed(2)
        }  (our throughput / torch throughput; target >= 0.8); CPU time per step, torch / ours: ${
          (cpuMs / bestCpu).toFixed(2)
        }`,
      );
    }
    if (bf16 !== undefined) {
      rec?.figure(
        `backend.torch_over_onednn_bf16_${size}`,
        "PyTorch's step time (fp32) / ours in bf16",
        ms / bf16,
        "x",
      );
      console.log(`ratio vs torch, our step in bf16: ${(ms / bf16).toFixed(2)}`);
    }
  } else {
    console.log("torch: /usr/bin/python3 with torch not available; no ratio");
    rec?.note("PyTorch (/usr/bin/python3 with torch) was not available: no ratio");
  }
}
