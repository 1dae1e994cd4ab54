import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import { makeToy } from "./testing/toy_project.ts";
import { TOY_FILES } from "./testing/toy_files.ts";
import { join } from "node:path";
import { combinations, parseCombos, parseVariation } from "./matrix.ts";

const STAGE_M = `import { defineStage } from "$STAGE";
import { z } from "$ZOD";

export const m = defineStage({
  name: "m",
  module: import.meta.url,
  params: z.object({ k: z.number().default(1) }),
  inputs: { a: "a.out" },
  outputs: { out: "m.txt" },
  async run(ctx) {
    const n = (await Deno.readTextFile(ctx.inputs.a)).length * ctx.params.k;
    await Deno.writeTextFile(ctx.outputs.out, String(n));
    return { len: n, nested: { k: ctx.params.k }, label: "not a number" };
  },
});
`;

/** The toy pipeline with stage m (a's output length times k). */
function toyWithM(extra = "") {
  return makeToy({
    ...TOY_FILES,
    "stage_m.ts": STAGE_M,
    "pipeline.ts": TOY_FILES["pipeline.ts"].replace(
      "export const stages = [a, b, c];",
      'import { m } from "./stage_m.ts";\nexport const stages = [a, b, c, m];\n' + extra,
    ),
  });
}

/** A comparison "page" of one line per combination: m's output read from the store. */
const MATRIX_REPORT = `
export async function matrixReport(cells) {
  const lines = [];
  for (const c of cells) {
    const text = await Deno.readTextFile(c.file("m", "out"));
    lines.push(c.label + ": " + text + " (" + Object.keys(c.records).sort().join(", ") + ")");
  }
  return lines.join("\\n");
}
`;

Deno.test("matrix: every combination runs once on one store, shared stages are computed once", async () => {
  const toy = await toyWithM(MATRIX_REPORT);
  try {
    const json = join(toy.dir, "matrix.json");
    const html = join(toy.dir, "matrix.html");
    const args = [
      ...["matrix", "m", "--vary", "a.repeat=1,2", "--vary", "m.k=[1, 3]"],
      ...["--json", json, "--html", html],
    ];
    const r = await toy.cli(args);
    assertEquals(r.code, 0, r.stderr);
    const rows = JSON.parse(await Deno.readTextFile(json)) as {
      combo: Record<string, number>;
      outcomes: Record<string, string>;
      metrics: Record<string, number>;
      seconds: Record<string, number>;
      keys: Record<string, string>;
    }[];
    // a's output is "HELLO WORLD" * repeat + "!": 11 * repeat + 1 characters.
    assertEquals(rows.map((x) => [x.combo["a.repeat"], x.combo["m.k"], x.metrics["m.len"]]), [
      [1, 1, 12],
      [1, 3, 36],
      [2, 1, 23],
      [2, 3, 69],
    ]);
    assertEquals(rows.map((x) => x.outcomes.a), ["ran", "cached", "ran", "cached"]);
    assertEquals(rows.map((x) => x.outcomes.m), ["ran", "ran", "ran", "ran"]);
    assertEquals(rows[1].metrics["m.nested.k"], 3);
    // The page gets every combination with its records and the stored files of its outputs.
    assertEquals((await Deno.readTextFile(html)).split("\n"), [
      "a.repeat=1 m.k=1: 12 (a, m)",
      "a.repeat=1 m.k=3: 36 (a, m)",
      "a.repeat=2 m.k=1: 23 (a, m)",
      "a.repeat=2 m.k=3: 69 (a, m)",
    ]);
    const lastTable = r.stdout.slice(r.stdout.lastIndexOf("4 combinations:"));
    assertEquals(lastTable.split("\n")[1].split(/\s+/), ["a.repeat", "m.k", "m.len", "m.nested.k"]);
    const again = await toy.cli(args);
    const rows2 = JSON.parse(await Deno.readTextFile(json)) as typeof rows;
    assertEquals(again.code, 0);
    // Stage times are those of the runs that made the results, cached or not.
    assertEquals(rows2.map((x) => Object.keys(x.seconds).sort()), rows.map(() => ["a", "m"]));
    assertEquals(rows2[1].seconds.a, rows[0].seconds.a);
    assertEquals(rows2[1].keys.a, rows[0].keys.a);
    assert(rows[0].keys.m !== rows[1].keys.m, "two combinations of m share a key");
    assertEquals(rows2.map((x) => x.seconds.m), rows.map((x) => x.seconds.m));
    // Nothing is computed again: each stage is the current result (cached) or an earlier one
    // taken back from the store (restored).
    const outcomes = rows2.flatMap((x) => Object.values(x.outcomes));
    assertEquals(outcomes.length, 8);
    assertEquals(outcomes.filter((o) => o !== "cached" && o !== "restored"), []);
  } finally {
    await toy.cleanup();
  }
});

Deno.test("matrix -j 2: combinations run at once, each reading its own upstream results", async () => {
  const toy = await toyWithM();
  try {
    const json = join(toy.dir, "matrix.json");
    const r = await toy.cli([
      ...["matrix", "m", "--vary", "a.repeat=1,2,3", "--vary", "m.k=[1, 3]", "-j", "2"],
      ...["--json", json],
    ]);
    assertEquals(r.code, 0, r.stderr);
    const rows = JSON.parse(await Deno.readTextFile(json)) as {
      combo: Record<string, number>;
      metrics: Record<string, number>;
    }[];
    // len = (11 * repeat + 1) * k, whichever combination's a was in out/ at the time.
    assertEquals(
      rows.map((x) => x.metrics["m.len"]),
      [12, 36, 23, 69, 34, 102],
    );
    assert(/\[\d\/6\] > m running/.test(r.stderr), "lines carry their combination: " + r.stderr);
  } finally {
    await toy.cleanup();
  }
});

Deno.test("matrix --html needs a pipeline with a matrixReport, and says so", async () => {
  const toy = await makeToy(TOY_FILES);
  try {
    const r = await toy.cli(["matrix", "c", "--vary", "a.repeat=1,2", "--html", "x.html"]);
    assertEquals(r.code !== 0, true);
    assertEquals(r.stderr.includes("exports no matrixReport"), true, r.stderr);
  } finally {
    await toy.cleanup();
  }
});

Deno.test("matrix: variation syntax and errors", () => {
  assertEquals(parseVariation("s.p=1,two,true").values, [1, "two", true]);
  assertEquals(parseVariation('s.p=[{"a":1},{"a":2}]').values, [{ a: 1 }, { a: 2 }]);
  assertThrows(() => parseVariation("nodot=1"), /stage\.param/);
  assertEquals(combinations([parseVariation("s.a=1,2"), parseVariation("s.b=x,y")]).length, 4);
  assertThrows(() => combinations([parseVariation("s.a=1"), parseVariation("s.a=2")]), /twice/);
});

Deno.test("matrix --combos: named combinations (no product), each times the --vary values", async () => {
  const toy = await toyWithM();
  try {
    const json = join(toy.dir, "matrix.json");
    const combos = join(toy.dir, "combos.json");
    await Deno.writeTextFile(
      combos,
      JSON.stringify([
        { label: "baseline", set: {} },
        { label: "long", set: { "a.repeat": 3 } },
      ]),
    );
    const r = await toy.cli(["matrix", "m", "--combos", combos, "--vary", "a.repeat=1,2"]);
    assertEquals(r.code !== 0, true);
    assert(r.stderr.includes("a.repeat is both in --combos and --vary"), r.stderr);
    const ok = await toy.cli([
      "matrix",
      "m",
      "--combos",
      combos,
      "--vary",
      "m.k=1,3",
      "--json",
      json,
    ]);
    assertEquals(ok.code, 0, ok.stderr);
    const rows = JSON.parse(await Deno.readTextFile(json)) as {
      label: string;
      combo: Record<string, number>;
      metrics: Record<string, number>;
    }[];
    // Baseline's a.repeat is the default, 1: len = (11 * repeat + 1) * k.
    assertEquals(rows.map((x) => [x.label, x.combo["a.repeat"], x.metrics["m.len"]]), [
      ["baseline", undefined, 12],
      ["baseline", undefined, 36],
      ["long", 3, 34],
      ["long", 3, 102],
    ]);
    assert(ok.stdout.includes("== combination 3/4: long: a.repeat=3 m.k=1"), ok.stdout);
  } finally {
    await toy.cleanup();
  }
});

Deno.test("matrix with no stage names tabulates the pipeline's defaultMetrics stages", async () => {
  // The default target (r) has no metrics of its own: the scores are upstream, in m.
  const toy = await makeToy({
    ...TOY_FILES,
    "stage_m.ts": STAGE_M,
    "stage_r.ts": `import { defineStage } from "$STAGE";
import { z } from "$ZOD";
export const r = defineStage({
  name: "r",
  module: import.meta.url,
  params: z.object({}),
  inputs: { m: "m.out" },
  outputs: { out: "r.txt" },
  async run(ctx) {
    await Deno.writeTextFile(ctx.outputs.out, "report of " + await Deno.readTextFile(ctx.inputs.m));
  },
});
`,
    "pipeline.ts": `import { a } from "./stage_a.ts";
import { m } from "./stage_m.ts";
import { r } from "./stage_r.ts";
export const stages = [a, m, r];
export const defaultTargets = ["r"];
export const defaultMetrics = ["m"];
`,
  });
  try {
    const json = join(toy.dir, "matrix.json");
    const run = await toy.cli(["matrix", "--vary", "m.k=1,2", "--json", json]);
    assertEquals(run.code, 0, run.stderr);
    const rows = JSON.parse(await Deno.readTextFile(json)) as {
      outcomes: Record<string, string>;
      metrics: Record<string, number>;
    }[];
    assertEquals(rows.map((x) => [x.outcomes.r, x.metrics]), [
      ["ran", { "m.len": 12, "m.nested.k": 1 }],
      ["ran", { "m.len": 24, "m.nested.k": 2 }],
    ]);
    // Named stages still pick their own: r has no numeric metrics.
    const named = await toy.cli(["matrix", "r", "--vary", "m.k=1,2", "--json", json]);
    assertEquals(named.code, 0, named.stderr);
    const rows2 = JSON.parse(await Deno.readTextFile(json)) as { metrics: object }[];
    assertEquals(rows2.map((x) => x.metrics), [{}, {}]);
  } finally {
    await toy.cleanup();
  }
});

Deno.test("matrix --combos: file errors name the file, the entry and the fault", () => {
  assertThrows(() => parseCombos("[", "c.json"), /c\.json: not JSON/);
  assertThrows(() => parseCombos("[]", "c.json"), /non-empty JSON list/);
  assertThrows(() => parseCombos('[{"set": {}}]', "c.json"), /entry 1: "label" is missing/);
  assertThrows(
    () => parseCombos('[{"label": "x", "set": {}}, {"label": "x", "set": {}}]', "c.json"),
    /entry 2: label "x" given twice/,
  );
  assertThrows(() => parseCombos('[{"label": "x", "set": {"nodot": 1}}]', "c"), /"nodot" is not/);
  assertThrows(() => parseCombos('[{"label": "x", "set": {}, "vary": 1}]', "c"), /unknown field/);
  assertEquals(parseCombos('[{"label": "x", "set": {"s.p": 2}}]', "c"), [
    { label: "x", set: { "s.p": 2 } },
  ]);
});
