/** `deno task bench [name...]`: runs the named benchmarks (default: all). */
import { benchBackend } from "./backend.ts";
import { benchEngine } from "./engine.ts";
import { benchLatent } from "./latent.ts";
import { benchData } from "./data.ts";
import { benchQuality } from "./quality.ts";
import { benchMethods } from "./methods.ts";
import { benchMetrics } from "./metrics.ts";

const benches: Record<string, (args: string[]) => Promise<void>> = {
  engine: benchEngine,
  backend: benchBackend,
  latent: benchLatent,
  data: benchData,
  quality: benchQuality,
  methods: benchMethods,
  metrics: benchMetrics,
  compress: (a) => import("./compress.ts").then((m) => m.benchCompress(a)),
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
  await run(flags);
}
