import { assert, assertEquals } from "../tests/assert.ts";
import { Claims } from "./claim.ts";

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "ganflow-claims-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("claims: one holder per key; others see who holds it", () =>
  withDir(async (dir) => {
    const claims = new Claims(dir, { staleMs: 60_000 });
    const first = await claims.tryClaim("k1");
    assert("claim" in first);
    const second = await claims.tryClaim("k1");
    assert("heldBy" in second);
    assertEquals(second.heldBy.token, first.claim.owner.token);
    assertEquals(second.heldBy.pid, Deno.pid);
    assert("claim" in await claims.tryClaim("k2"), "another key is independent");
    await first.claim.setJob("123");
    assertEquals((await claims.inspect("k1"))!.owner.job, "123");
    await first.claim.release();
    assertEquals(await claims.inspect("k1"), null);
    const third = await claims.tryClaim("k1");
    assert("claim" in third, "a released key can be claimed again");
    await third.claim.release();
  }));

Deno.test("claims: a heartbeat keeps a claim live; without one it goes stale and is taken over", () =>
  withDir(async (dir) => {
    const staleMs = 1000;
    const a = new Claims(dir, { staleMs, heartbeatMs: 50 });
    const held = await a.tryClaim("k");
    assert("claim" in held);
    await sleep(staleMs * 2);
    // Heartbeats kept it fresh although twice the stale age has passed since it was made.
    const b = new Claims(dir, { staleMs, heartbeatMs: 50 });
    assert("heldBy" in await b.tryClaim("k"));
    await held.claim.release(false); // stops the heartbeat, leaves the file: a dead holder
    await sleep(staleMs * 2);
    const taken = await b.tryClaim("k");
    assert("claim" in taken, "a stale claim is taken over");
    assert(taken.claim.owner.token !== held.claim.owner.token);
    assertEquals(await held.claim.beat(), false, "the old holder learns it lost the claim");
    await taken.claim.release();
  }));

Deno.test("claims: a claim of a dead local process without a job is stale at once", () =>
  withDir(async (dir) => {
    const claims = new Claims(dir, { staleMs: 60_000 });
    const dead = new Deno.Command("true").spawn();
    const pid = dead.pid;
    await dead.status;
    const owner = { token: "t", host: claims.host, pid, since: new Date().toISOString() };
    await Deno.mkdir(claims.dir, { recursive: true });
    await Deno.writeTextFile(claims.path("k"), JSON.stringify(owner));
    assert(await claims.isStale(owner, 0));
    // With a job attached, the heartbeat comes from the job: the driver's death alone is no proof.
    assert(!(await claims.isStale({ ...owner, job: "7" }, 0)));
    const taken = await claims.tryClaim("k");
    assert("claim" in taken);
    await taken.claim.release();
  }));

Deno.test("claims: of many concurrent takeovers of one stale claim exactly one wins", () =>
  withDir(async (dir) => {
    const claims = new Claims(dir, { staleMs: 100 });
    await Deno.mkdir(claims.dir, { recursive: true });
    await Deno.writeTextFile(
      claims.path("k"),
      JSON.stringify({ token: "old", host: "elsewhere", pid: 1, since: "" }),
    );
    const past = new Date(Date.now() - 10_000);
    await Deno.utime(claims.path("k"), past, past);
    const attempts = await Promise.all(
      Array.from({ length: 8 }, () => new Claims(dir, { staleMs: 100 }).tryClaim("k")),
    );
    const winners = attempts.filter((a) => "claim" in a);
    assertEquals(winners.length, 1);
    for (const w of winners) if ("claim" in w) await w.claim.release();
  }));

Deno.test("claims: a job adopts its driver's claim only while the token is still current", () =>
  withDir(async (dir) => {
    const claims = new Claims(dir, { staleMs: 60_000 });
    const held = await claims.tryClaim("k");
    assert("claim" in held);
    const adopted = await claims.adopt("k", held.claim.owner.token);
    assert(adopted !== null);
    assertEquals(await claims.adopt("k", "another-token"), null);
    await adopted!.release(false);
    await held.claim.release();
  }));

Deno.test("claims: a dead pid is found dead without --allow-all too (no /proc access)", async () => {
  const dead = new Deno.Command("true").spawn();
  await dead.status;
  const claimTs = new URL("./claim.ts", import.meta.url).href;
  const code = `import { processAlive } from "${claimTs}";
console.log(JSON.stringify([await processAlive(Deno.pid), await processAlive(${dead.pid})]));`;
  // Under the permissions `deno task pipeline` grants (read and run, not all).
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/probe.ts`, code);
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-lock", "--allow-read", "--allow-run", `${dir}/probe.ts`],
    }).output();
    assertEquals(new TextDecoder().decode(r.stdout).trim(), "[true,false]");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
