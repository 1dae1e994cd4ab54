import { CLAIMS } from "./claims.ts";
import { assert, assertEquals } from "../tests/assert.ts";
import { BenchRecorder, resultFileName } from "./results.ts";
import {
  fillBlocks,
  formatFigure,
  markdownTable,
  readResults,
  renderBenchmarks,
  wrap,
} from "./render.ts";

Deno.test("a recorded run renders with its command and provenance, and claims read its figures", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const rec = new BenchRecorder("backend", ["--sizes=64"]);
    rec.figure("backend.step.onednn.64.ms", "onednn step, 64²", 212.4, "ms", [205, 230.5, 212.4]);
    rec.figure("backend.torch_over_onednn_64", "PyTorch time / onednn time", 1.0412, "x");
    rec.note("PyTorch 1.13 ran under GOMP_SPINCOUNT=20000");
    const path = await rec.finish(dir);
    assert(path.endsWith("/backend--sizes-64.json"), path);
    const [r] = await readResults(dir);
    assertEquals(r.command, "deno task bench backend --sizes=64");
    assertEquals(r.figures[0].spread, [205, 230.5]);
    assertEquals(r.load.before.length, 3);
    const md = renderBenchmarks([r]);
    assert(
      md.includes("| onednn step, 64² | 212 ms (205-231) | `backend.step.onednn.64.ms` |"),
      md,
    );
    assert(md.includes("`deno task bench backend --sizes=64`"), md);
    assert(md.includes(`commit ${r.commit}`) && md.includes(r.cpu.model), md);
    // The backend claim is judged on the recorded ratio, with the command that made it.
    assert(
      md.includes(
        "| 1.04x PyTorch's speed (64², batch 32) | no | `deno task bench backend --sizes=64` |",
      ),
      md,
    );
    // Claims without results say so instead of inventing a figure.
    assert(/\| Depthwise-separable G is faster \|[^\n]*\| not measured yet \| - \|/.test(md), md);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("figures: refused when not finite or recorded twice; names of results files", () => {
  const rec = new BenchRecorder("x", []);
  rec.figure("a", "A", 1, "ms");
  let msg = "";
  try {
    rec.figure("a", "A again", 2, "ms");
  } catch (e) {
    msg = (e as Error).message;
  }
  assertEquals(msg, "figure a recorded twice");
  try {
    rec.figure("b", "B", NaN, "ms");
  } catch (e) {
    msg = (e as Error).message;
  }
  assertEquals(msg, "figure b: NaN is not a number");
  assertEquals(resultFileName("methods", []), "methods");
  assertEquals(
    resultFileName("methods", ["--steps=9", "--skip-growth"]),
    "methods--steps-9-skip-growth",
  );
  assertEquals(
    resultFileName("legibility", ["--samples-dir=/tmp/a", "--label=modes seed 2"]),
    "legibility--modes-seed-2",
  );
  assertEquals(formatFigure({ id: "r", label: "r", value: 0.01234, unit: "" }), "0.012");
});

/** A results file of the pipeline bench as `deno task bench pipeline` would write it. */
async function pipelineResult() {
  const rec = new BenchRecorder("pipeline", []);
  rec.figure("pipeline.stage.prepare.s", "prepare", 10.04, "s");
  rec.figure("pipeline.stage.train-autoencoder.s", "train-autoencoder", 34.2, "s");
  rec.figure("pipeline.total.s", "whole pipeline", 162.4, "s");
  rec.figure("pipeline.swd", "SWD x1e3 of the samples", 20.56, "");
  rec.figure("pipeline.reals2_swd", "SWD x1e3 real vs real", 15.37, "");
  return await rec.result();
}

const PAGE = [
  "# A page",
  "",
  "Text before, with a `<!-- comment -->` that is no block.",
  "",
  "<!-- bench:pipeline -->",
  "old table",
  "<!-- /bench:pipeline -->",
  "",
  "The step takes <!-- bench:figure:pipeline.total.s -->1 s<!-- /bench:figure:pipeline.total.s -->.",
  "",
  "<!-- bench:claims -->",
  "<!-- /bench:claims -->",
  "",
  "Text after.",
  "",
].join("\n");

Deno.test("README blocks: each block is replaced from the results, text outside is untouched", async () => {
  const r = await pipelineResult();
  const backend = new BenchRecorder("backend", ["--steps=10"]);
  backend.figure("backend.torch_over_onednn_64", "PyTorch time / onednn time", 1.0412, "x");
  const out = fillBlocks(PAGE, [r, await backend.result()]);
  const [before] = PAGE.split("<!-- bench:pipeline -->");
  assert(out.startsWith(before + "<!-- bench:pipeline -->\n"), out);
  assert(out.endsWith("<!-- /bench:claims -->\n\nText after.\n"), out);
  assert(!out.includes("old table"), out);
  // The stage table in recorded order, then the total; values as formatFigure writes them.
  assert(
    out.includes(
      [
        "| stage               | wall time |",
        "| ------------------- | --------- |",
        "| `prepare`           | 10.0 s    |",
        "| `train-autoencoder` | 34.2 s    |",
        "| total               | 162 s     |",
      ].join("\n"),
    ),
    out,
  );
  assert(out.includes("The samples' SWD is 20.6; two sets of real images are 15.4 apart"), out);
  assert(out.includes(`commit ${r.commit}`), out);
  assert(out.includes("The step takes <!-- bench:figure:pipeline.total.s -->162 s<!--"), out);
  // The backend claim is judged on its figure, with its reason and command; the six claims
  // whose benches did not run say so, none invents a figure.
  const claims = out.split("<!-- bench:claims -->")[1].split("<!-- /bench:claims -->")[0]
    .replace(/\s+/g, " ");
  assert(
    claims.includes(
      "- **The oneDNN backend beats PyTorch on the same cores** (ganflow's own target: >= 1.3x " +
        "PyTorch 1.13): 1.04x PyTorch's speed (64², batch 32), not met. Convolutions dominate",
    ),
    claims,
  );
  assert(
    claims.trim().endsWith(
      "fewer multiply-adds are still to come. `deno task bench backend --steps=10`",
    ),
    claims,
  );
  // Every claim but the backend's has no results here.
  assertEquals(claims.match(/not measured yet/g)?.length, CLAIMS.length - 1);
  // Filling again changes nothing, and the page stays as deno fmt would write it.
  assertEquals(fillBlocks(out, [r, await backend.result()]), out);
  const fmt = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext", "md", "-"],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const w = fmt.stdin.getWriter();
  await w.write(new TextEncoder().encode(out));
  await w.close();
  assertEquals(new TextDecoder().decode((await fmt.output()).stdout), out);
  // Without a pipeline results file the block says how to make one.
  assert(fillBlocks(PAGE, []).includes("Not measured yet: run `deno task bench pipeline`"));
});

Deno.test("README blocks: an unknown or unclosed block is an error naming its line", () => {
  const err = (page: string) => {
    try {
      fillBlocks(page, [], "README.md");
    } catch (e) {
      return (e as Error).message;
    }
    return "";
  };
  assertEquals(
    err("a\n<!-- bench:speed -->\n<!-- /bench:speed -->\n"),
    'README.md:2: unknown block "bench:speed"',
  );
  assertEquals(
    err("a\nb\n<!-- bench:claims -->\n"),
    'README.md:3: block "bench:claims" has no end marker',
  );
  assertEquals(
    err("<!-- bench:claims -->\n<!-- /bench:pipeline -->\n"),
    'README.md:1: block "bench:claims" is closed by "/bench:pipeline"',
  );
});

Deno.test("wrap keeps lines within 100 characters and code spans whole; tables padded", () => {
  const text = "- **A claim.** " + "word ".repeat(30) + "`deno task bench methods --steps=9`";
  const lines = wrap(text, "  ");
  assert(lines.every((l) => l.length <= 100), lines.join("\n"));
  assert(lines.some((l) => l.includes("`deno task bench methods --steps=9`")), lines.join("\n"));
  assert(lines.slice(1).every((l) => l.startsWith("  ")));
  assertEquals(lines.join(" ").replace(/\s+/g, " "), text.replace(/\s+/g, " ").trim());
  assertEquals(markdownTable(["a", "bb"], [["xxxx", "y"]]), [
    "| a    | bb  |",
    "| ---- | --- |",
    "| xxxx | y   |",
  ]);
});

Deno.test("ablation block: one row per combination, in recorded order, missing cells as '-'", async () => {
  const rec = new BenchRecorder("ablation", []);
  rec.figure("ablation.reals2", "real vs real", 8.68, "");
  rec.figure("ablation.curve_reals2", "real vs real, 256", 14.9, "");
  rec.figure("ablation.baseline.swd", "baseline: SWD x1e3 at 1500 steps", 18.78, "");
  rec.figure("ablation.baseline.floor", "baseline: autoencoder floor, SWD x1e3", 10.7, "");
  rec.figure("ablation.baseline.step_ms", "baseline: generator step (same process)", 55.2, "ms");
  rec.figure(
    "ablation.baseline.swd_at_base_time",
    "baseline: SWD x1e3 (256 images) at the baseline's time, step 1500",
    25.8,
    "",
  );
  rec.figure("ablation.baseline.legible", "baseline: samples read confidently", 74.1, "%");
  rec.figure("ablation.real_legible", "held-out real digits read confidently", 94.4, "%");
  rec.figure("ablation.r1-0-1.swd", "R1 0.1: SWD x1e3 at 1500 steps", 15.89, "");
  rec.figure("ablation.r1-0-1.step_ms", "R1 0.1: generator step (same process)", 65, "ms");
  const out = fillBlocks("<!-- bench:ablation -->\n<!-- /bench:ablation -->\n", [
    await rec.result(),
  ]);
  const lines = out.split("\n");
  assertEquals(lines.slice(2, 6), [
    "| combination | SWD  | SWD at the baseline's time | legible | generator step | autoencoder floor |",
    "| ----------- | ---- | -------------------------- | ------- | -------------- | ----------------- |",
    "| baseline    | 18.8 | 25.8 (step 1500)           | 74.1 %  | 55.2 ms        | 10.7              |",
    "| R1 0.1      | 15.9 | -                          | -       | 65.0 ms        | -                 |",
  ]);
  assert(out.replace(/\s+/g, " ").includes("two real sets score 8.68."), out);
  assert(out.replace(/\s+/g, " ").includes("(real digits: 94.4 %)"), out);
  assert(out.includes("`deno task bench ablation`"), out);
});

Deno.test("ablation block: the latest of several ablation results", async () => {
  const at = async (date: string, swd: number) => {
    const rec = new BenchRecorder("ablation", [`--store=/tmp/${swd}`]);
    rec.figure("ablation.baseline.swd", "baseline: SWD x1e3 at 1500 steps", swd, "");
    return { ...await rec.result(), date };
  };
  const older = await at("2026-12-01T00:00:00.000Z", 20.5);
  const newer = await at("2026-12-06T00:00:00.000Z", 11.5);
  for (const results of [[older, newer], [newer, older]]) {
    const out = fillBlocks("<!-- bench:ablation -->\n<!-- /bench:ablation -->\n", results);
    assert(out.includes("| baseline    | 11.5 |"), out);
    assert(!out.includes("20.5"), out);
  }
});
