import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import { makeToy, type Toy } from "./testing/toy_project.ts";
import { COUNTER_STAGE, TOY_FILES } from "./testing/toy_files.ts";
import { buildGraph } from "./graph.ts";
import { defineStage, type StageDef } from "./stage.ts";
import { z } from "zod";

const COUNTER_PIPELINE = `import { counter } from "./counter.ts";
import { defineStage } from "$STAGE";
import { z } from "$ZOD";
const double = defineStage({
  name: "double",
  module: import.meta.url,
  params: z.object({}),
  inputs: { c: "counter.out" },
  outputs: { out: "double.txt" },
  async run(ctx) {
    const { total } = JSON.parse(await Deno.readTextFile(ctx.inputs.c));
    await Deno.writeTextFile(ctx.outputs.out, String(2 * total));
  },
});
export const stages = [counter, double];
`;

/** Where the counter's latest result resumed (its run record's metrics). */
async function resumedFrom(toy: Toy): Promise<number> {
  const { key } = JSON.parse(await toy.read(".ganflow/heads/counter.json"));
  return JSON.parse(await toy.read(`.ganflow/runs/${key}.json`)).metrics.resumedFrom;
}

Deno.test("resume: a stage killed mid-way continues from its last checkpoint", async () => {
  const toy = await makeToy({ "counter.ts": COUNTER_STAGE, "pipeline.ts": COUNTER_PIPELINE });
  try {
    const child = toy.spawn(["run", "--set", "counter.delayMs=150", "--set", "counter.steps=30"]);
    // Wait until at least 3 checkpoints exist, then SIGKILL.
    const ckRoot = `${toy.dir}/.ganflow/checkpoints`;
    for (let i = 0; i < 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const steps = await listSteps(ckRoot);
      if (steps.some((s) => s >= 3)) break;
    }
    child.kill("SIGKILL");
    await child.output();
    const reached = Math.max(...await listSteps(ckRoot));
    assert(reached >= 3 && reached < 30, `checkpointed up to ${reached}`);
    const r = await toy.cli(["run", "--set", "counter.delayMs=0", "--set", "counter.steps=30"]);
    // delayMs is a parameter, so a different key: resuming needs the same key.
    assertEquals(await resumedFrom(toy), 0);
    assertEquals(r.code, 0);
    const child2 = toy.spawn(["run", "--set", "counter.delayMs=150", "--set", "counter.steps=30"]);
    await child2.output(); // let it finish: same key as the killed run -> resumes
    const from = await resumedFrom(toy);
    assert(from >= reached, `resumed from ${from}, expected >= ${reached}`);
    assertEquals(
      JSON.parse(await toy.read(".ganflow/out/counter/count.json")).total,
      (29 * 30) / 2,
    );
    assertEquals(await toy.read(".ganflow/out/double/double.txt"), String(29 * 30));
  } finally {
    await toy.cleanup();
  }
});

async function listSteps(root: string): Promise<number[]> {
  const out: number[] = [];
  try {
    for await (const k of Deno.readDir(root)) {
      for await (const s of Deno.readDir(`${root}/${k.name}`)) {
        const m = /^step-(\d+)$/.exec(s.name);
        if (m) out.push(Number(m[1]));
      }
    }
  } catch { /* not yet */ }
  return out.length ? out : [0];
}

Deno.test("crash safety: SIGKILL at each commit point leaves a truthful status and a good re-run", async () => {
  for (const point of ["before-commit", "after-objects", "after-record"]) {
    const toy = await makeToy(TOY_FILES);
    try {
      const killed = await toy.cli(["run"], { GANFLOW_FAULT: `${point}:b` });
      assertEquals(killed.code, 137, `${point}: ${killed.stderr}`);
      const st = await toy.cli(["status"]);
      const lines = st.stdout.trim().split("\n");
      assertEquals(lines[0].split(/\s+/).slice(0, 2), ["cached", "a"], point);
      // Until its record exists, b is missing; after the record (head not yet moved) it is cached.
      const expectB = point === "after-record" ? "cached" : "missing";
      assertEquals(lines[1].split(/\s+/).slice(0, 2), [expectB, "b"], `${point}: ${st.stdout}`);
      const again = await toy.cli(["run"]);
      assertEquals(again.code, 0, again.stderr);
      const o = toy.outcomes(again.stdout);
      assertEquals(o.a, "cached", point);
      assertEquals(o.b, point === "after-record" ? "restored" : "ran", point);
      assertEquals(await toy.read(".ganflow/out/b/tree/x.txt"), "HELLO WORLD!HELLO WORLD!");
      assertEquals(await toy.read(".ganflow/out/b/tree/sub/len.txt"), "12");
    } finally {
      await toy.cleanup();
    }
  }
});

Deno.test("crash safety: SIGKILL while a stage is running", async () => {
  const toy = await makeToy({ "counter.ts": COUNTER_STAGE, "pipeline.ts": COUNTER_PIPELINE });
  try {
    const child = toy.spawn(["run", "--set", "counter.delayMs=100", "--set", "counter.steps=10"]);
    for (
      let i = 0;
      i < 200 && Math.max(...await listSteps(`${toy.dir}/.ganflow/checkpoints`)) < 1;
      i++
    ) {
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill("SIGKILL");
    await child.output();
    // The killed driver's claim on counter's key is left behind; the next run takes it over.
    const claims = await Array.fromAsync(Deno.readDir(`${toy.dir}/.ganflow/claims`));
    assertEquals(claims.filter((e) => e.name.endsWith(".json")).length, 1);
    const st = await toy.cli([
      "status",
      "--set",
      "counter.delayMs=100",
      "--set",
      "counter.steps=10",
    ]);
    assert(/missing\s+counter/.test(st.stdout), st.stdout);
    const r = await toy.cli(["run", "--set", "counter.delayMs=100", "--set", "counter.steps=10"]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(JSON.parse(await toy.read(".ganflow/out/counter/count.json")).total, 45);
  } finally {
    await toy.cleanup();
  }
});

Deno.test("concurrency: two runs on one store end with one consistent result", async () => {
  const toy = await makeToy({ "counter.ts": COUNTER_STAGE, "pipeline.ts": COUNTER_PIPELINE });
  try {
    const args = ["run", "--set", "counter.delayMs=30", "--set", "counter.steps=10"];
    const [r1, r2] = await Promise.all([toy.spawn(args).output(), toy.spawn(args).output()]);
    const outs = [r1, r2].map((r) => new TextDecoder().decode(r.stdout));
    assertEquals([r1.code, r2.code], [0, 0]);
    const outcomes = outs.map((o) => toy.outcomes(o).counter).sort();
    assertEquals(outcomes, ["cached", "ran"]); // the second waited for the claim, then the record
    const errs = [r1, r2].map((r) => new TextDecoder().decode(r.stderr)).join("\n");
    assert(/counter: waiting for pid \d+ on \S+, which is computing it/.test(errs), errs);
    assertEquals(await toy.read(".ganflow/out/double/double.txt"), "90");
    const slow = ["run", "--set", "counter.delayMs=300", "--set", "counter.steps=10"];
    const noWait = toy.spawn(slow);
    await new Promise((r) => setTimeout(r, 1000));
    // Same key as the slow run (a different key would simply run beside it).
    const refused = await toy.cli([...slow, "--no-wait"]);
    await noWait.output();
    assertEquals(refused.code, 1);
    assert(/counter \[\w{8}\] is being computed by pid \d+/.test(refused.stderr), refused.stderr);
  } finally {
    await toy.cleanup();
  }
});

/** Two stages that each wait for the other to have started: they finish only if run at once. */
const RENDEZVOUS = `import { defineStage } from "$STAGE";
import { z } from "$ZOD";
const meet = (name: string, other: string) => defineStage({
  name,
  module: import.meta.url,
  params: z.object({ dir: z.string().default("") }),
  outputs: { out: "o.txt" },
  async run(ctx) {
    await Deno.writeTextFile(ctx.params.dir + "/" + name, "");
    for (let i = 0; i < 300; i++) {
      try {
        await Deno.stat(ctx.params.dir + "/" + other);
        await Deno.writeTextFile(ctx.outputs.out, name + " met " + other);
        return;
      } catch { await new Promise((r) => setTimeout(r, 50)); }
    }
    throw new Error(name + " never met " + other + ": the runs were serialised");
  },
});
export const stages = [meet("x", "y"), meet("y", "x")];
`;

Deno.test("concurrency: two terminals on one store run different stages in parallel", async () => {
  const toy = await makeToy({ "pipeline.ts": RENDEZVOUS });
  try {
    const sets = ["--set", `x.dir=${toy.dir}`, "--set", `y.dir=${toy.dir}`];
    const [rx, ry] = await Promise.all([
      toy.spawn(["run", "x", ...sets]).output(),
      toy.spawn(["run", "y", ...sets]).output(),
    ]);
    const err = (r: Deno.CommandOutput) => new TextDecoder().decode(r.stderr);
    assertEquals([rx.code, ry.code], [0, 0], err(rx) + err(ry));
    assertEquals(await toy.read(".ganflow/out/x/o.txt"), "x met y");
    assertEquals(await toy.read(".ganflow/out/y/o.txt"), "y met x");
  } finally {
    await toy.cleanup();
  }
});

Deno.test("verify passes on a deterministic pipeline and names the file that differs", async () => {
  const random = `import { defineStage } from "$STAGE";
import { z } from "$ZOD";
export const r = defineStage({
  name: "rand",
  module: import.meta.url,
  params: z.object({}),
  outputs: { dir: "d" },
  nondeterministic: [],
  async run(ctx) {
    await Deno.mkdir(ctx.outputs.dir, { recursive: true });
    await Deno.writeTextFile(ctx.outputs.dir + "/fixed.txt", "same");
    await Deno.writeTextFile(ctx.outputs.dir + "/noise.txt", String(Math.random()));
  },
});
export const stages = [r];
`;
  const toy = await makeToy({ ...TOY_FILES, "rand.ts": random });
  try {
    await toy.cli(["run"]);
    const ok = await toy.cli(["verify"]);
    assertEquals(ok.code, 0, ok.stderr);
    assert(ok.stdout.includes("verify: all identical"));
    await toy.write("pipeline.ts", `export { stages } from "./rand.ts";\n`);
    await toy.cli(["run"]);
    const bad = await toy.cli(["verify"]);
    assertEquals(bad.code, 1);
    assert(bad.stderr.includes("x rand differs: dir/noise.txt"), bad.stderr);
    assert(!bad.stderr.includes("fixed.txt"));
    // Declared nondeterministic -> excluded, verify passes.
    await toy.write(
      "rand.ts",
      random.replace("nondeterministic: []", 'nondeterministic: ["dir/noise.txt"]'),
    );
    await toy.cli(["run"]);
    const excused = await toy.cli(["verify"]);
    assertEquals(excused.code, 0, excused.stderr);
    assert(excused.stderr.includes("not compared: dir/noise.txt"), excused.stderr);
  } finally {
    await toy.cleanup();
  }
});

const stage = (name: string, inputs: Record<string, string> = {}, outputs = { out: "o" }) =>
  defineStage({
    name,
    module: import.meta.url,
    params: z.object({ lr: z.number().min(0).max(1).default(0.1) }),
    inputs,
    outputs,
    run: async () => {},
  });

Deno.test("bad pipeline definitions are rejected with the offending names", () => {
  const build = (stages: StageDef[], overrides = {}) =>
    buildGraph(stages, { baseDir: "/", overrides });
  assertThrows(
    () =>
      build([stage("a", { x: "c.out" }), stage("b", { x: "a.out" }), stage("c", { x: "b.out" })]),
    "cycle: a -> b -> c -> a", // data flows a -> b -> c -> a,
  );
  assertThrows(
    () => build([stage("a", { x: "nope.out" })]),
    'stage "a", input "x": no stage named "nope" produces it',
  );
  assertThrows(
    () => build([stage("a"), stage("b", { x: "a.weights" })]),
    'stage "b", input "x": stage "a" has no output "weights" (it has: out)',
  );
  assertThrows(() => build([stage("a"), stage("a")]), 'duplicate stage name "a"');
  assertThrows(
    () => build([stage("a")], { "a.lr": 5 }),
    'stage "a", parameter "lr": Too big: expected number to be <=1',
  );
  assertThrows(
    () => build([stage("a")], { "a.lr": "fast" }),
    'stage "a", parameter "lr": Invalid input: expected number, received string',
  );
  assertThrows(
    () => build([stage("a", {}, { x: "m", y: "m/sub" } as never) as StageDef]),
    'stage "a": outputs "x" and "y" claim the same path "m"',
  );
  assertThrows(() => build([stage("a")], { "b.lr": 1 }), '--set b.lr: no stage named "b"');
  // A misspelt parameter (zod would drop it silently), also inside a nested object.
  assertThrows(
    () => build([stage("a")], { "a.rl": 0.5 }),
    '--set a.rl: stage "a" has no parameter "rl" (it has: lr)',
  );
  const nested = defineStage({
    name: "n",
    module: import.meta.url,
    params: z.object({ growth: z.object({ start: z.number().default(4) }).default({ start: 4 }) }),
    outputs: { out: "o" },
    run: async () => {},
  });
  assertThrows(() => build([nested], { "n.growth.strat": 8 }), "--set n.growth.strat");
  assertEquals(build([nested], { "n.growth.start": 8 }).nodes.get("n")!.params, {
    growth: { start: 8 },
  });
  // One refused parameter is reported once, not again by every stage whose inputs read it.
  const reader = defineStage({
    name: "r",
    module: import.meta.url,
    params: z.object({}),
    inputs: (_p, paramsOf) => (paramsOf("a"), {}),
    outputs: { out: "o" },
    run: async () => {},
  });
  const e = assertThrows(() => build([stage("a"), reader], { "a.lr": 5 }), "Too big");
  assert(!e.message.includes("no parameters"), e.message);
});
