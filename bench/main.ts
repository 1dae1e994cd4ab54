/**
 * `deno task bench [name...]`: runs the named benchmarks (default: all). Each writes its figures
 * to bench/results/ (results.ts); `deno task bench-render` turns them into docs/benchmarks.md.
 */
import { BenchRecorder } from "./results.ts";
import { benchBackend } from "./backend.ts";
import { benchEngine } from "./engine.ts";
import { benchLatent } from "./latent.ts";
import { benchData } from "./data.ts";
import { benchQuality } from "./quality.ts";
import { benchMethods } from "./methods.ts";
import { benchMetrics } from "./metrics.ts";
import { benchPipeline } from "./pipeline.ts";

const benches: Record<string, (args: string[], rec: BenchRecorder) => Promise<void>> = {
  engine: benchEngine,
  backend: benchBackend,
  latent: benchLatent,
  data: benchData,
  quality: benchQuality,
  methods: benchMethods,
  metrics: benchMetrics,
  pipeline: benchPipeline,
  compress: (a, r) => import("./compress.ts").then((m) => m.benchCompress(a, r)),
  cluster: (a, r) => import("./cluster.ts").then((m) => m.benchCluster(a, r)),
  ablation: (a, r) => import("./ablation.ts").then((m) => m.benchAblation(a, r)),
  legibility: (a, r) => import("./legibility.ts").then((m) => m.benchLegibility(a, r)),
};

// "--backend NAME" is one flag, "--backend=NAME".
const args = Deno.args.flatMap((a, i, all) =>
  a === "--backend" ? [`--backend=${all[i + 1] ?? ""}`] : all[i - 1] === "--backend" ? [] : [a]
);
const names = args.filter((a) => !a.startsWith("--"));
const flags = args.filter((a) => a.startsWith("--"));
for (const name of names.length ? names : Object.keys(benches)) {
  const run = benches[name];
  if (!run) {
    console.error(`unknown benchmark "${name}"; available: ${Object.keys(benches).join(", ")}`);
    Deno.exit(2);
  }
  console.log(`\n== ${name} ==`);
  const rec = new BenchRecorder(name, flags);
  await run(flags, rec);
  if (rec.figures.length) console.log(`figures written to ${await rec.finish()}`);
}
