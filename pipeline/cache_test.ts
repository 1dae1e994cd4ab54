import { assert, assertEquals } from "../tests/assert.ts";
import { makeToy, STAGE_TS, ZOD } from "./testing/toy_project.ts";
import { TOY_FILES } from "./testing/toy_files.ts";
import { join } from "node:path";

Deno.test("cache hit/miss matrix: exactly the changed stage and its downstream re-run", async (t) => {
  const toy = await makeToy(TOY_FILES);
  try {
    const run = async (...args: string[]) => {
      const r = await toy.cli(["run", ...args]);
      assertEquals(r.code, 0, r.stderr);
      return toy.outcomes(r.stdout);
    };
    assertEquals(await run(), { a: "ran", b: "ran", c: "ran" });
    assertEquals(await toy.read(".ganflow/out/b/tree/x.txt"), "HELLO WORLD!HELLO WORLD!");

    await t.step("nothing changed -> all cached", async () => {
      assertEquals(await run(), { a: "cached", b: "cached", c: "cached" });
    });
    await t.step("unrelated file changed -> all cached", async () => {
      await toy.write("unrelated.ts", "export const nothing = 2;\n");
      assertEquals(await run(), { a: "cached", b: "cached", c: "cached" });
    });
    await t.step("comment-only edit of a stage -> cached", async () => {
      await toy.write("stage_c.ts", "// a comment\n" + TOY_FILES["stage_c.ts"]);
      assertEquals(await run(), { a: "cached", b: "cached", c: "cached" });
    });
    await t.step("param of b -> only b", async () => {
      assertEquals(await run("--set", "b.times=3"), { a: "cached", b: "ran", c: "cached" });
    });
    await t.step("code of c -> only c", async () => {
      await toy.write("stage_c.ts", TOY_FILES["stage_c.ts"].replace('+ "\\n"', '+ " chars\\n"'));
      assertEquals(await run("--set", "b.times=3"), { a: "cached", b: "cached", c: "ran" });
      assertEquals(await toy.read(".ganflow/out/c/c.txt"), "12 chars\n");
    });
    await t.step("imported helper of a -> a, and b, c because a's output changed", async () => {
      await toy.write("helper.ts", TOY_FILES["helper.ts"].replace("toUpperCase", "toLowerCase"));
      assertEquals(
        (await toy.cli(["status", "--set", "b.times=3"])).stdout.split("\n")[0],
        "stale    a  (code changed: helper.ts)",
      );
      assertEquals(await run("--set", "b.times=3"), { a: "ran", b: "ran", c: "ran" });
    });
    await t.step("input file -> a and downstream; status names the input first", async () => {
      await toy.write("data/input.txt", "bye\n");
      const st = await toy.cli(["status", "--set", "b.times=3"]);
      assert(/stale\s+a\s+\(input changed: text\)/.test(st.stdout), st.stdout);
      assertEquals(await run("--set", "b.times=3"), { a: "ran", b: "ran", c: "ran" });
    });
    await t.step(
      "a change that leaves a's output identical does not re-run downstream",
      async () => {
        await toy.write(
          "helper.ts",
          TOY_FILES["helper.ts"].replace("toUpperCase()", "toLowerCase().trim()"),
        );
        assertEquals(await run("--set", "b.times=3"), { a: "ran", b: "cached", c: "cached" });
      },
    );
  } finally {
    await toy.cleanup();
  }
});

Deno.test("run-cache: param A -> B -> A restores A's outputs without running", async () => {
  const toy = await makeToy(TOY_FILES);
  try {
    const run = async (...args: string[]) => toy.outcomes((await toy.cli(["run", ...args])).stdout);
    await run("--set", "a.suffix=A");
    const first = await toy.read(".ganflow/out/b/tree/x.txt");
    assertEquals((await run("--set", "a.suffix=B")).a, "ran");
    assertEquals(await toy.read(".ganflow/out/b/tree/x.txt"), "HELLO WORLDBHELLO WORLDB");
    assertEquals(await run("--set", "a.suffix=A"), { a: "restored", b: "restored", c: "restored" });
    assertEquals(await toy.read(".ganflow/out/b/tree/x.txt"), first);
  } finally {
    await toy.cleanup();
  }
});

Deno.test("tampering: a corrupted stored object is detected, evicted and recomputed", async () => {
  const toy = await makeToy(TOY_FILES);
  try {
    await toy.cli(["run"]);
    const path = join(toy.dir, ".ganflow/out/b/tree/x.txt"); // a hard link to the object
    await Deno.chmod(path, 0o644);
    await Deno.writeTextFile(path, "evil");
    const r = await toy.cli(["run"]);
    assert(r.stderr.includes("b: stored output dir is missing or corrupt"), r.stderr);
    assertEquals(toy.outcomes(r.stdout), { a: "cached", b: "ran", c: "cached" });
    assertEquals(await toy.read(".ganflow/out/b/tree/x.txt"), "HELLO WORLD!HELLO WORLD!");
    // Truncation of an object is caught the same way.
    const objects = join(toy.dir, ".ganflow/out/a/a.txt");
    await Deno.chmod(objects, 0o644);
    await Deno.truncate(objects, 3);
    const r2 = await toy.cli(["run"]);
    assertEquals(toy.outcomes(r2.stdout).a, "ran");
    assertEquals(await toy.read(".ganflow/out/a/a.txt"), "HELLO WORLD!");
  } finally {
    await toy.cleanup();
  }
});

Deno.test("gc removes unreferenced objects and reports bytes; --only-current drops old results", async () => {
  const toy = await makeToy(TOY_FILES);
  try {
    await toy.cli(["run", "--set", "a.suffix=A"]);
    await toy.cli(["run", "--set", "a.suffix=BB"]);
    const g1 = await toy.cli(["gc"]);
    assert(/freed 0 B \(0 objects, 0 run records\)/.test(g1.stdout), g1.stdout);
    const g2 = await toy.cli(["gc", "--only-current", "--set", "a.suffix=BB"]);
    assert(/freed \d+ B \(\d+ objects, 3 run records\)/.test(g2.stdout), g2.stdout);
    const again = await toy.cli(["run", "--set", "a.suffix=A"]);
    assertEquals(toy.outcomes(again.stdout).a, "ran");
  } finally {
    await toy.cleanup();
  }
});

Deno.test("a folder input: re-run is a hit, touching files is a hit, adding a file changes the key", async () => {
  const toy = await makeToy({
    "imgs/a.txt": "a",
    "imgs/sub/b.txt": "b",
    "stage.ts": `import { defineStage } from "$STAGE";
import { z } from "$ZOD";
export const list = defineStage({
  name: "list",
  module: import.meta.url,
  params: z.object({}),
  inputs: { dir: { path: "imgs" } },
  outputs: { out: "files.txt" },
  async run(ctx) {
    const names: string[] = [];
    for await (const e of Deno.readDir(ctx.inputs.dir)) names.push(e.name);
    await Deno.writeTextFile(ctx.outputs.out, names.sort().join(","));
  },
});
export const stages = [list];
`,
    "pipeline.ts": `export { stages } from "./stage.ts";\n`,
  });
  try {
    const run = async () => toy.outcomes((await toy.cli(["run"])).stdout).list;
    assertEquals(await run(), "ran");
    assertEquals(await run(), "cached");
    const now = new Date(Date.now() + 5000);
    await Deno.utime(join(toy.dir, "imgs/a.txt"), now, now);
    assertEquals(await run(), "cached");
    await toy.write("imgs/sub/c.txt", "c");
    assertEquals(await run(), "ran");
    const st = await toy.cli(["status"]);
    assert(st.stdout.startsWith("cached   list"), st.stdout);
  } finally {
    await toy.cleanup();
  }
});

Deno.test("code edited during a run: keys use the code the run loaded, so the edit re-runs next time", async () => {
  // Stage a edits c's module while the run is under way, before c's key is computed.
  const newC = TOY_FILES["stage_c.ts"].replace('+ "\\n"', '+ " chars\\n"');
  const toy = await makeToy({
    ...TOY_FILES,
    "stage_a.ts": TOY_FILES["stage_a.ts"].replace(
      "const text = await Deno.readTextFile(ctx.inputs.text);",
      `const text = await Deno.readTextFile(ctx.inputs.text);
    await Deno.writeTextFile(new URL("./stage_c.ts", import.meta.url), ${JSON.stringify(newC)}
      .replaceAll("$STAGE", "${STAGE_TS}").replaceAll("$ZOD", "${ZOD}"));`,
    ),
  });
  try {
    const run = async () => {
      const r = await toy.cli(["run"]);
      assertEquals(r.code, 0, r.stderr);
      return toy.outcomes(r.stdout);
    };
    assertEquals(await run(), { a: "ran", b: "ran", c: "ran" });
    assertEquals(await toy.read(".ganflow/out/c/c.txt"), "12\n"); // the code loaded at start
    assert((await toy.read("stage_c.ts")).includes("chars"), "stage a edited c");
    // The record of the old code's result is under the old code's key: the new code runs now.
    assertEquals(await run(), { a: "cached", b: "cached", c: "ran" });
    assertEquals(await toy.read(".ganflow/out/c/c.txt"), "12 chars\n");
  } finally {
    await toy.cleanup();
  }
});
