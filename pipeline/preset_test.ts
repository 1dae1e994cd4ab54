import { assert, assertEquals } from "../tests/assert.ts";
import { makeToy } from "./testing/toy_project.ts";
import { TOY_FILES } from "./testing/toy_files.ts";
import { listPresets, loadPreset } from "./preset.ts";
import { PipelineError } from "./graph.ts";

async function errorOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert(e instanceof PipelineError, String(e));
    return e.message;
  }
  throw new Error("no error");
}

Deno.test("preset: the overrides apply, --set wins over them, and the run says which preset", async () => {
  const toy = await makeToy({
    ...TOY_FILES,
    "presets/loud.json": JSON.stringify({
      description: "three times, with a question",
      set: { "a.repeat": 3, "a.suffix": "?" },
    }),
  });
  try {
    const r = await toy.cli(["run", "a", "--preset", "loud", "--set", "a.suffix=!!"]);
    assertEquals(r.code, 0, r.stderr);
    assert(r.stderr.includes("preset loud: three times, with a question"), r.stderr);
    assertEquals(await toy.read(".ganflow/out/a/a.txt"), "HELLO WORLD".repeat(3) + "!!");
    const unknown = await toy.cli(["run", "a", "--preset", "quiet"]);
    assert(unknown.code !== 0);
    assert(unknown.stderr.includes("--preset quiet: no such preset"), unknown.stderr);
    assert(unknown.stderr.includes("presets: loud"), unknown.stderr);
  } finally {
    await toy.cleanup();
  }
});

Deno.test("preset: files are checked field by field, and listed by name", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/presets`);
    const write = (name: string, v: unknown) =>
      Deno.writeTextFile(
        `${dir}/presets/${name}.json`,
        typeof v === "string" ? v : JSON.stringify(v),
      );
    await write("ok", { description: "fine", set: { "s.p": [1, 2] } });
    await write("broken", "{");
    await write("nodesc", { set: {} });
    await write("badkey", { description: "d", set: { p: 1 } });
    await write("extra", { description: "d", set: {}, vary: {} });
    assertEquals(await listPresets(dir), ["badkey", "broken", "extra", "nodesc", "ok"]);
    assertEquals(await loadPreset("ok", dir), {
      name: "ok",
      description: "fine",
      set: { "s.p": [1, 2] },
    });
    assertEquals((await loadPreset(`${dir}/presets/ok.json`, "/nowhere")).name, "ok");
    assert((await errorOf(loadPreset("broken", dir))).includes("not JSON"));
    assert((await errorOf(loadPreset("nodesc", dir))).includes('"description"'));
    assert((await errorOf(loadPreset("badkey", dir))).includes('"p" is not stage.param'));
    assert((await errorOf(loadPreset("extra", dir))).includes('unknown field "vary"'));
    assertEquals(await listPresets("/nowhere"), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
