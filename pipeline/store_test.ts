import { assert, assertEquals } from "../tests/assert.ts";
import { join } from "node:path";
import { hostname } from "node:os";
import { FsStore } from "./store.ts";
import type { RunRecord } from "./stage.ts";

async function withStore(fn: (store: FsStore, root: string) => Promise<void>) {
  const root = await Deno.makeTempDir({ prefix: "ganflow-store-" });
  try {
    await fn(await FsStore.open(root), root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function recordWith(store: FsStore, key: string, text: string): Promise<RunRecord> {
  const tmp = await store.tmpDir("t");
  await Deno.writeTextFile(join(tmp, "f.txt"), text);
  const outputs = await store.commit({ out: join(tmp, "f.txt") });
  const record = {
    stage: "s",
    key,
    ingredients: { name: "s", code: {}, deps: {}, params: {}, inputs: {}, globals: {} },
    outputs,
    metrics: {},
    seconds: 0,
    finishedAt: "",
    globals: {},
    params: {},
  };
  await store.putRecord(record);
  return record;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error, got none");
}

Deno.test("gc: a finished key's checkpoints are freed and counted; unreadable ones are reported", () =>
  withStore(async (store, root) => {
    await recordWith(store, "done", "kept");
    const ck = join(root, "checkpoints", "done", "step-000000001");
    await Deno.mkdir(ck, { recursive: true });
    await Deno.writeTextFile(join(ck, "state"), "12345"); // 5 bytes
    await Deno.mkdir(join(root, "checkpoints", "running"), { recursive: true }); // no record: kept
    const r = await store.gc();
    assertEquals(r, { bytes: 5, objects: 0, records: 0 });
    assertEquals(await Deno.stat(join(root, "checkpoints", "running")).then(() => true), true);
    // A checkpoints path gc cannot read used to end the clean-up silently (and under-report).
    await Deno.remove(join(root, "checkpoints"), { recursive: true });
    await Deno.writeTextFile(join(root, "checkpoints"), "not a directory");
    const e = await rejection(store.gc());
    assert(/not a directory/i.test(e.message), e.message);
  }));

Deno.test("cleanTmp: removes temp dirs of dead processes of this host only, reports errors", () =>
  withStore(async (store, root) => {
    const mine = await store.tmpDir("live");
    const dead = new Deno.Command("true").spawn();
    await dead.status;
    const gone = join(root, "tmp", `${hostname()}~${dead.pid}~stage-abcd`);
    const elsewhere = join(root, "tmp", `other-host~${dead.pid}~stage-abcd`);
    for (const d of [gone, elsewhere]) await Deno.mkdir(d, { recursive: true });
    assertEquals(await store.cleanTmp(), 1);
    const left = (await Array.fromAsync(Deno.readDir(join(root, "tmp")))).map((e) => e.name);
    assertEquals(left.sort(), [mine.split("/").at(-1)!, elsewhere.split("/").at(-1)!].sort());
    // out/ that cannot be listed used to be taken for "no out dir yet".
    await Deno.writeTextFile(join(root, "out"), "not a directory");
    const e = await rejection(store.cleanTmp());
    assert(/not a directory/i.test(e.message), e.message);
  }));

Deno.test("commit: objects are published under their digest, and a second copy of the same bytes is one object", () =>
  withStore(async (store, root) => {
    const a = await recordWith(store, "k1", "same bytes");
    const b = await recordWith(store, "k2", "same bytes");
    assertEquals(a.outputs.out.digest, b.outputs.out.digest);
    const objects = (await Array.fromAsync(Deno.readDir(join(root, "objects"))))
      .map((e) => e.name);
    assertEquals(objects.length, 1);
    const files = await Array.fromAsync(Deno.readDir(join(root, "objects", objects[0])));
    assertEquals(files.map((f) => f.name.includes(".tmp-")), [false]); // no staged copy left
    assertEquals(await Deno.readTextFile(store.objectFile(a, "out")!), "same bytes");
  }));

Deno.test("view: a record's own outputs, whatever out/ shows meanwhile", () =>
  withStore(async (store) => {
    const one = await recordWith(store, "k1", "first");
    const two = await recordWith(store, "k2", "second");
    const layout = { out: "dir/f.txt" };
    await store.materialise(one, layout);
    const v1 = await store.view(one, layout);
    await store.materialise(two, layout); // another combination's result takes out/
    assertEquals(await Deno.readTextFile(store.outPath("s", "dir/f.txt")), "second");
    assertEquals(await Deno.readTextFile(join(v1, "dir/f.txt")), "first");
    assertEquals(await store.view(one, layout), v1, "built once, then reused");
    assertEquals(
      await Deno.readTextFile(join(await store.view(two, layout), "dir/f.txt")),
      "second",
    );
  }));
