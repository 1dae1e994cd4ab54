import { assert, assertEquals } from "../tests/assert.ts";
import { join } from "node:path";
import { toFileUrl } from "./url.ts";
import { CodeHasher } from "./code_digest.ts";

async function project(files: Record<string, string>) {
  const dir = await Deno.makeTempDir({ prefix: "ganflow-code-" });
  for (const [rel, text] of Object.entries(files)) await Deno.writeTextFile(join(dir, rel), text);
  return dir;
}

const MODULE = `import { z } from "zod";\nexport const x = z;\n`;

Deno.test("code digest: dependency versions come from deno.json and deno.lock", async () => {
  const dir = await project({
    "m.ts": MODULE,
    "deno.json": JSON.stringify({ imports: { zod: "npm:zod@4.6.7" } }),
    "deno.lock": JSON.stringify({ npm: { "zod@4.6.7": { integrity: "sha512-abc" } } }),
  });
  try {
    const d = await new CodeHasher(dir).digest(toFileUrl(join(dir, "m.ts")));
    assertEquals(d.deps, { zod: "npm:zod@4.6.7 sha512-abc" });
    // Without a deno.json or lock (both legitimately absent) the specifier hashes as written.
    await Deno.remove(join(dir, "deno.json"));
    await Deno.remove(join(dir, "deno.lock"));
    const bare = await new CodeHasher(dir).digest(toFileUrl(join(dir, "m.ts")));
    assertEquals(bare.deps, { zod: "zod" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("code digest: an unreadable deno.json or deno.lock is an error, not silently dropped", async () => {
  for (const [file, content] of [["deno.json", "{ not json"], ["deno.lock", "{ not json"]]) {
    const dir = await project({ "m.ts": MODULE, [file]: content });
    try {
      const e = await new CodeHasher(dir).digest(toFileUrl(join(dir, "m.ts"))).then(
        () => null,
        (e: Error) => e,
      );
      assert(e !== null, `${file}: no error`);
      assert(e.message.includes(file) && e.message.includes("not valid JSON"), e.message);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  // A directory where the file should be (unreadable): reported with the path.
  const dir = await project({ "m.ts": MODULE });
  try {
    await Deno.mkdir(join(dir, "deno.json"));
    const e = await new CodeHasher(dir).digest(toFileUrl(join(dir, "m.ts"))).then(
      () => null,
      (e: Error) => e,
    );
    assert(e?.message.includes("cannot read"), String(e?.message));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
