import { assert, assertEquals } from "../tests/assert.ts";
import { BenchRecorder, resultFileName } from "./results.ts";
import { formatFigure, readResults, renderBenchmarks } from "./render.ts";

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
  assertEquals(formatFigure({ id: "r", label: "r", value: 0.01234, unit: "" }), "0.012");
});
