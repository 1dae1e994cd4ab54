/**
 * A folder input's digest covers exactly what a stage may read: links inside by their target's
 * content, links leaving the folder or dangling by name only, no walk outside the folder; and
 * a folder with such links runs instead of failing with "does not exist".
 */
import { join } from "node:path";
import { assert, assertEquals } from "../tests/assert.ts";
import { walkTree } from "./tree_walk.ts";
import { StatCache } from "./stat_cache.ts";
import { makeToy } from "./testing/toy_project.ts";

async function folder() {
  const base = await Deno.makeTempDir();
  const dir = join(base, "images");
  const outside = join(base, "outside");
  await Deno.mkdir(join(dir, "sub"), { recursive: true });
  await Deno.mkdir(outside);
  await Deno.writeTextFile(join(dir, "a.png"), "AAAA");
  await Deno.writeTextFile(join(dir, "sub", "b.png"), "BB");
  await Deno.writeTextFile(join(outside, "secret.png"), "outside bytes");
  return { base, dir, outside };
}

const digestOf = async (dir: string) =>
  await (await StatCache.load(join(dir, "..", "stat-cache.json"))).digest(dir);

Deno.test("links: inside by content, outside and dangling by name, never walked", async () => {
  const { base, dir, outside } = await folder();
  try {
    await Deno.symlink(join(dir, "a.png"), join(dir, "inside-link.png"));
    await Deno.symlink("sub", join(dir, "sub-link")); // a directory inside: reached anyway
    await Deno.symlink("/nonexistent/x.png", join(dir, "dangling.png"));
    await Deno.symlink(outside, join(dir, "outside-dir"));
    await Deno.symlink("/etc", join(dir, "etc"));
    await Deno.symlink("loop-b", join(dir, "loop-a"));
    await Deno.symlink("loop-a", join(dir, "loop-b"));
    const entries = await walkTree(dir);
    assertEquals(entries.map((e) => [e.rel, e.kind === "file" ? "file" : e.target]), [
      ["a.png", "file"],
      ["dangling.png", "dangling"],
      ["etc", "outside"],
      ["inside-link.png", "file"],
      ["loop-a", "dangling"],
      ["loop-b", "dangling"],
      ["outside-dir", "outside"],
      ["sub/b.png", "file"],
    ]);
    const d = await digestOf(dir);
    // The inside link is hashed as its target's bytes.
    assertEquals(d.files!["inside-link.png"].digest, d.files!["a.png"].digest);
    assertEquals(d.size, 4 + 4 + 2);

    // What lies outside is not part of the key; what lies inside is.
    await Deno.writeTextFile(join(outside, "secret.png"), "changed outside");
    await Deno.remove(join(dir, "dangling.png"));
    await Deno.symlink("/elsewhere/y.png", join(dir, "dangling.png"));
    assertEquals((await digestOf(dir)).digest, d.digest);
    await Deno.writeTextFile(join(dir, "a.png"), "AAAB");
    assert((await digestOf(dir)).digest !== d.digest);
    // A link that stops dangling changes the key.
    await Deno.remove(join(dir, "dangling.png"));
    await Deno.symlink(join(dir, "sub", "b.png"), join(dir, "dangling.png"));
    const now = await digestOf(dir);
    assertEquals(now.files!["dangling.png"].digest, now.files!["sub/b.png"].digest);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("a folder given through a link is walked as its target", async () => {
  const { base, dir } = await folder();
  try {
    await Deno.symlink(dir, join(base, "via-link"));
    assertEquals((await digestOf(join(base, "via-link"))).digest, (await digestOf(dir)).digest);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

const FOLDER_PIPELINE: Record<string, string> = {
  "stage_count.ts": `import { defineStage } from "$STAGE";
import { z } from "$ZOD";

export const count = defineStage({
  name: "count",
  module: import.meta.url,
  params: z.object({}),
  inputs: { images: { path: "images" } },
  outputs: { out: "count.txt" },
  async run(ctx) {
    let n = 0;
    for await (const e of Deno.readDir(ctx.inputs.images)) if (e.isFile) n++;
    await Deno.writeTextFile(ctx.outputs.out, n + "\\n");
  },
});
`,
  "pipeline.ts": `import { count } from "./stage_count.ts";
export const stages = [count];
`,
  "images/a.png": "AAAA",
};

Deno.test("a folder input with a dangling link and a link to /etc runs", async () => {
  const toy = await makeToy(FOLDER_PIPELINE);
  try {
    await Deno.symlink("/nonexistent/x.png", join(toy.dir, "images", "dangling.png"));
    await Deno.symlink("/etc", join(toy.dir, "images", "etc"));
    const r = await toy.cli(["run"]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(toy.outcomes(r.stdout), { count: "ran" });
    assertEquals((await toy.cli(["run"])).code, 0);
    // A missing folder still says so.
    await Deno.remove(join(toy.dir, "images"), { recursive: true });
    const missing = await toy.cli(["run"]);
    assertEquals(missing.code === 0, false);
    assert(/input "images": \S+images does not exist/.test(missing.stderr), missing.stderr);
  } finally {
    await toy.cleanup();
  }
});
