/**
 * `deno task gpu-check`: what to run on a machine with a GPU, in one command. Prints
 * 1. the WebGPU adapter (and whether the native TensorFlow binding is installed and loads),
 * 2. op parity against the cpu backend on that device (backend/webgpu/parity_test.ts),
 * 3. the reference GAN step's ms/step on the GPU against onednn on the same machine's CPU,
 * 4. the default pipeline's wall time per stage on the GPU (optionally on onednn too).
 * Options: --tiny (toy pipeline settings and a batch-2 32² step: a sanity check on a software
 * adapter such as lavapipe), --steps=N (timed steps, default 5), --cpu-pipeline (also run the
 * pipeline on onednn), --skip-pipeline, --store=DIR (default: a new temporary store).
 */
import { initBackend } from "../backend/mod.ts";
import { defaultLoader } from "../backend/loader.ts";
import { deviceGanStepMs } from "../bench/backend_device.ts";
import { ganStepMs } from "../bench/backend.ts";

const args = Deno.args;
const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const tiny = args.includes("--tiny");
const steps = Number(flag("steps") ?? 5);
const [size, batch] = tiny ? [32, 2] : [64, 32];
const root = new URL("..", import.meta.url).pathname;

/** Toy settings of the pipeline (the WebGPU pipeline test's). */
const TINY_SETS = Object.entries({
  "prepare.source": "procedural",
  "prepare.limit": 48,
  "prepare.resolution": 16,
  "train-autoencoder.steps": 3,
  "train-autoencoder.batch": 4,
  "train-autoencoder.holdout": 8,
  "train-generator.steps": 3,
  "train-generator.batch": 4,
  "train-generator.baseChannels": 8,
  "sample.count": 8,
  "real-stats.count": 8,
}).flatMap(([k, v]) => ["--set", `${k}=${v}`]);

console.log("== 1. adapter ==");
const adapter = await defaultLoader.requestAdapter();
if (!adapter) {
  console.log("no WebGPU adapter: install the GPU's Vulkan driver (or mesa-vulkan-drivers)");
} else {
  // GPUAdapterInfo's fields are getters: copied one by one.
  const info = adapter.info as Record<string, unknown> | undefined;
  const fields = ["vendor", "architecture", "device", "description", "isFallbackAdapter"];
  console.log(`WebGPU: ${fields.map((f) => `${f} ${JSON.stringify(info?.[f])}`).join(", ")}`);
  const limits = (adapter as { limits?: Record<string, number> }).limits;
  if (limits) {
    console.log(
      `limits: maxBufferSize ${limits.maxBufferSize}, maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize}`,
    );
  }
}
const native = await defaultLoader.exists(
  `${root}node_modules/@tensorflow/tfjs-node-gpu/package.json`,
);
console.log(`@tensorflow/tfjs-node-gpu: ${native ? "installed" : "not installed (docs/gpu.md)"}`);
const auto = await pick("auto");
console.log(`--backend auto picks: ${auto}`);

console.log("\n== 2. op parity against the cpu backend on this device ==");
const parity = await new Deno.Command(Deno.execPath(), {
  args: ["test", "-A", `${root}backend/webgpu/parity_test.ts`],
  env: { NO_COLOR: "1" },
}).output();
const report = new TextDecoder().decode(parity.stdout) + new TextDecoder().decode(parity.stderr);
for (const line of report.split("\n")) {
  if (/ \.\.\. (ok|FAILED|ignored)|^(ok|FAILED) \||mismatch|^note:/.test(line)) console.log(line);
}

console.log(`\n== 3. reference GAN step (${size}x${size}, batch ${batch}, ${steps} steps) ==`);
const rows: [string, number][] = [];
for (const name of ["webgpu", "tensorflow", "onednn"] as const) {
  try {
    const info = await initBackend(name);
    const ms = info.name === "onednn"
      ? ganStepMs(size, batch, steps).ms
      : (await deviceGanStepMs(size, batch, steps)).ms;
    rows.push([name, ms]);
    console.log(`${name.padEnd(10)} ${ms.toFixed(1).padStart(9)} ms/step  ${info.detail}`);
  } catch (e) {
    console.log(`${name.padEnd(10)} unavailable: ${(e as Error).message.split("\n")[0]}`);
  }
}
const cpuMs = rows.find(([n]) => n === "onednn")?.[1];
for (const [n, ms] of rows) {
  if (n !== "onednn" && cpuMs) {
    console.log(
      `${n} / onednn throughput: ${(cpuMs / ms).toFixed(2)} (above 1: the GPU is faster)`,
    );
  }
}

if (!args.includes("--skip-pipeline")) {
  console.log(`\n== 4. the ${tiny ? "toy" : "default"} pipeline, wall time per stage ==`);
  for (const backend of args.includes("--cpu-pipeline") ? ["webgpu", "onednn"] : ["webgpu"]) {
    const store = flag("store") ?? await Deno.makeTempDir({ prefix: `ganflow-gpu-check-` });
    console.log(`--backend ${backend} (store ${store}):`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${root}main.ts`,
        "run",
        "--backend",
        backend,
        "--store",
        `${store}/${backend}`,
        ...(tiny ? TINY_SETS : []),
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const table = text.slice(text.lastIndexOf("\nstage "));
    console.log(table.trim() || text.slice(-2000));
  }
}

/** What `--backend auto` would pick, asked in a separate process (selection is global). */
async function pick(name: string): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { initBackend } from "${root}backend/mod.ts"; ` +
      `console.log((await initBackend("${name}")).detail);`,
    ],
    cwd: root,
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  return text || new TextDecoder().decode(out.stderr).trim().split("\n").at(-1) || "?";
}
