/**
 * `deno task bench metrics`: throughput (images of one set per second) of the evaluation metrics
 * at 64² and 256² on the default backend, next to the same computation in Python run in the
 * same process tree: SWD against a vectorised numpy port (bench/torch_ref/metrics_peer.py), FID
 * Inception feature extraction against pytorch-fid's network in torch. Uses the real Inception
 * weights when they are in the cache dir, else the low-entropy pattern weights of the test
 * fixture (same architecture and cost; it says so). Flags: --swd-count=N, --fid-count=N,
 * --fid-batch=N, --sizes=64,256.
 */
import { initBackend } from "../backend/mod.ts";
import { Rng } from "../nn/rng.ts";
import { type ImageSet, slicedWassersteinDistance } from "../metrics/swd.ts";
import { disposeInception, extractFeatures, loadInception } from "../metrics/inception.ts";
import { defaultInceptionPath } from "../metrics/inception_weights.ts";
import { stringFlag } from "./flags.ts";

const PEER = new URL("./torch_ref/metrics_peer.py", import.meta.url).pathname;
const PATTERN = new URL("../tests/fixtures/inception/inception_pattern.pt.gz", import.meta.url)
  .pathname;

function peer(args: string[]): { images_per_s: number; swd_average?: number } | null {
  try {
    const out = new Deno.Command("/usr/bin/python3", { args: [PEER, ...args], stderr: "piped" })
      .outputSync();
    if (out.code !== 0) {
      const err = new TextDecoder().decode(out.stderr).trim().split("\n").pop();
      console.log(`  (peer failed: ${err})`);
      return null;
    }
    return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
  } catch {
    return null;
  }
}

function randomImages(rng: Rng, n: number, size: number): ImageSet {
  const data = new Uint8Array(n * size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rng.uniform() * 256);
  return { data, n, h: size, w: size, c: 3 };
}

const fmt = (v: number) => v.toFixed(v < 10 ? 2 : 1).padStart(7);

function line(label: string, ours: number, peerName: string, theirs: number | null, extra = "") {
  const ratio = theirs ? `  ratio ${(ours / theirs).toFixed(2)}` : "";
  const them = theirs ? `  ${peerName} ${fmt(theirs)} img/s` : `  ${peerName} unavailable`;
  console.log(`${label.padEnd(22)} ours ${fmt(ours)} img/s${them}${ratio}${extra}`);
}

export async function benchMetrics(args: string[]): Promise<void> {
  const info = await initBackend("auto");
  const threads = navigator.hardwareConcurrency;
  const sizes = stringFlag(args, "sizes", "64,256").split(",").map(Number);
  console.log(`backend: ${info.detail}; ratio = our throughput / the peer's (higher is better)`);

  const rng = new Rng(11);
  for (const size of sizes) {
    const n = Number(stringFlag(args, "swd-count", size >= 256 ? "16" : "64"));
    const a = randomImages(rng, n, size), b = randomImages(rng, n, size);
    await slicedWassersteinDistance(randomImages(rng, 4, size), randomImages(rng, 4, size)); // warm-up
    const t0 = performance.now();
    const ours = await slicedWassersteinDistance(a, b, { seed: 1 });
    const sec = (performance.now() - t0) / 1000;
    const np = peer(["swd", "--size", String(size), "--count", String(n)]);
    line(
      `SWD ${size}² (${n} vs ${n})`,
      n / sec,
      "numpy",
      np?.images_per_s ?? null,
      `  (SWD x1e3 ${ours.average.toFixed(1)} vs ${
        np?.swd_average?.toFixed(1) ?? "-"
      }: random draws differ)`,
    );
  }

  const real = defaultInceptionPath();
  let weights = real;
  try {
    Deno.statSync(real);
    console.log(`Inception weights: ${real}`);
  } catch {
    weights = PATTERN;
    console.log(
      `Inception weights: the published file is not at ${real}; using the test fixture's ` +
        "pattern weights (same network and cost, features not meaningful)",
    );
  }
  const { net } = await loadInception(weights);
  const batch = Number(stringFlag(args, "fid-batch", "16"));
  for (const size of sizes) {
    const n = Number(stringFlag(args, "fid-count", "32"));
    const data = new Float32Array(n * size * size * 3);
    for (let i = 0; i < data.length; i++) data[i] = rng.uniform() * 2 - 1;
    // Warm-up with a whole batch: oneDNN compiles a primitive per geometry on first use.
    const w = Math.min(batch, n);
    extractFeatures(net, data.subarray(0, w * size * size * 3), [w, size, size, 3], { batch });
    const t0 = performance.now();
    extractFeatures(net, data, [n, size, size, 3], { batch });
    const sec = (performance.now() - t0) / 1000;
    const torch = peer([
      "inception",
      "--size",
      String(size),
      "--count",
      String(n),
      "--batch",
      String(batch),
      "--threads",
      String(threads),
      "--weights",
      weights,
    ]);
    line(
      `FID features ${size}²`,
      n / sec,
      "torch",
      torch?.images_per_s ?? null,
      `  (batch ${batch})`,
    );
  }
  disposeInception(net);
}
