import { join } from "node:path";
import { assert, assertEquals } from "../tests/assert.ts";
import { encodePng } from "../data/image_io.ts";
import type { MatrixCell, RunRecord } from "../pipeline/stage.ts";
import { matrixReport } from "./matrix_report.ts";

/** A cell whose files are temp files; `metrics` null means evaluate did not run. */
async function cell(
  dir: string,
  label: string,
  metrics: Record<string, unknown> | null,
  seconds: number,
  gen: Record<string, number | string> = {},
): Promise<MatrixCell> {
  const files: Record<string, string> = {};
  const grid = join(dir, `${label}.png`);
  await Deno.writeFile(grid, await encodePng(new Uint8Array(8 * 4 * 3).fill(90), 8, 4, 3));
  files["sample.grid"] = grid;
  const records: Record<string, RunRecord> = {
    "train-generator": { metrics: { gParams: 1234, ...gen }, seconds } as unknown as RunRecord,
  };
  if (metrics) {
    files["evaluate.metrics"] = join(dir, `${label}.json`);
    await Deno.writeTextFile(files["evaluate.metrics"], JSON.stringify(metrics));
    records.evaluate = { metrics: { reals2Swd: 15.37 } } as unknown as RunRecord;
  }
  // A label as the engine writes it; the page shortens it from the combination.
  const value = label.split("=")[1];
  return {
    label: `train-generator.s="${value}"`,
    combo: value === "none" ? {} : { "train-generator.s": value },
    records,
    file: (stage, output) => files[`${stage}.${output}`] ?? null,
  };
}

const metricsOf = (swd: number, curve: [number, number][]) => ({
  images: 64,
  swdAverage: swd,
  msSsim: 0.25,
  reals2: { swdAverage: 15.37 },
  curve: { count: 32, reals2: 12.5, points: curve.map(([step, swd]) => ({ step, swd })) },
});

Deno.test("matrix page: one figure and row per combination, their curves on one chart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ganflow-matrix-page-" });
  try {
    const html = await matrixReport([
      await cell(dir, "s=two", metricsOf(20.56, [[250, 60], [500, 31.5]]), 76.6, {
        msPerStep: 211.5,
        peakMB: 109.7,
        precision: "bf16",
      }),
      await cell(dir, "s=one", metricsOf(24.25, [[250, 70], [500, 40]]), 55.25, {
        msPerStep: 175,
        peakMB: 156.5,
        precision: "fp32",
      }),
      await cell(dir, "s=none", null, 10),
    ]);
    assertEquals(html.match(/<figure/g)?.length, 3);
    const rows = [...html.matchAll(/<tr>(.*?)<\/tr>/g)].map((m) =>
      [...m[1].matchAll(/<t[dh][^>]*>(.*?)<\/t[dh]>/g)].map((c) => c[1])
    );
    // FID and KID columns are dropped: no combination has them.
    assertEquals(rows, [
      [
        "combination",
        "SWD x1e3",
        "MS-SSIM",
        "G params",
        "precision",
        "ms per step",
        "peak tensor MB",
        "train-generator s",
      ],
      ["s=two", "20.56", "0.2500", "1234", "bf16", "211.5", "109.7", "76.60"],
      ["s=one", "24.25", "0.2500", "1234", "fp32", "175.0", "156.5", "55.25"],
      ["train-generator.s=&quot;none&quot;", "—", "—", "1234", "—", "—", "—", "10.00"],
    ]);
    // One chart: both curves and the real-vs-real level, in the legend.
    assertEquals(html.match(/<svg/g)?.length, 1);
    for (const name of ["s=two", "s=one", "Reals2"]) assert(html.includes(`>${name}</text>`), name);
    assert(html.includes("SWD x1e3 over training (32 images per point)"));
    // Without a combination the engine's label stays.
    assert(html.includes("train-generator.s=&quot;none&quot;: no evaluate metrics"));
    assert(html.includes("Reals2) SWD x1e3 15.37"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
