import { assertEquals, assertThrows } from "../tests/assert.ts";
import {
  DEFAULT_SLURM,
  loadProjectConfig,
  parseResourceFlags,
  parseSlurmTime,
  resolveResources,
  sbatchFlags,
} from "./resources.ts";

Deno.test("resources: Slurm time limits in seconds, by hand", () => {
  assertEquals(parseSlurmTime("30"), 1800); // plain minutes
  assertEquals(parseSlurmTime("5:30"), 330); // M:S
  assertEquals(parseSlurmTime("2:00:00"), 7200);
  assertEquals(parseSlurmTime("1-12"), 129600); // D-H
  assertEquals(parseSlurmTime("1-0:30"), 88200); // D-H:M
  assertEquals(parseSlurmTime("2-01:02:03"), 2 * 86400 + 3723);
  assertThrows(() => parseSlurmTime("1h"), "not a Slurm time");
  assertThrows(() => parseSlurmTime("0"), "not a Slurm time");
});

Deno.test("resources: declaration < config * < config stage < --resources * < --resources stage", () => {
  const config = {
    "*": { partition: "cpu", mem: "2G" },
    train: { partition: "gpu", gpus: 1 },
  };
  const cli = parseResourceFlags(["*.time=10", "train.time=1-00:00:00", "train.cpus=8"]);
  assertEquals(resolveResources("train", { cpus: 2, time: "5", checkpointed: true }, config, cli), {
    cpus: 8,
    time: "1-00:00:00",
    checkpointed: true,
    partition: "gpu",
    mem: "2G",
    gpus: 1,
  });
  assertEquals(resolveResources("prep", { cpus: 2 }, config, cli), {
    cpus: 2,
    partition: "cpu",
    mem: "2G",
    time: "10",
  });
  assertThrows(() => parseResourceFlags(["train.cpus=0"]), "--resources train.cpus");
  assertThrows(() => parseResourceFlags(["train.disk=1"]), 'unknown resource "disk"');
  assertThrows(() => parseResourceFlags(["train.mem=lots"]), "is not Slurm memory");
  assertThrows(() => parseResourceFlags(["cpus=2"]), "expected stage.field=value");
});

Deno.test("resources: sbatch flags, with requeue and a signal half the limit at most", () => {
  const slurm = { ...DEFAULT_SLURM, signalSeconds: 300 };
  assertEquals(sbatchFlags({}, slurm), ["--cpus-per-task=1"]);
  assertEquals(
    sbatchFlags({ cpus: 4, gpus: 2, mem: "16G", time: "2:00:00", partition: "gpu" }, slurm),
    ["--cpus-per-task=4", "--gpus=2", "--mem=16G", "--time=2:00:00", "--partition=gpu"],
  );
  // 2 h limit: signal 300 s before; a 2 min limit: 60 s before, not 300 (which is past the start).
  assertEquals(sbatchFlags({ time: "2:00:00", checkpointed: true }, slurm).slice(-2), [
    "--requeue",
    "--signal=B:USR2@300",
  ]);
  assertEquals(sbatchFlags({ time: "2", checkpointed: true }, slurm).slice(-1), [
    "--signal=B:USR2@60",
  ]);
});

Deno.test("resources: the config file is checked and names what is wrong", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const write = (o: unknown) => Deno.writeTextFile(`${dir}/c.json`, JSON.stringify(o));
    assertEquals((await loadProjectConfig(`${dir}/none.json`)).slurm, DEFAULT_SLURM);
    await write({
      resources: { train: { gpus: 1 } },
      slurm: { pollSeconds: 5, sbatchArgs: ["-A", "p"] },
    });
    const c = await loadProjectConfig(`${dir}/c.json`);
    assertEquals(c.resources, { train: { gpus: 1 } });
    assertEquals(c.slurm, { ...DEFAULT_SLURM, pollSeconds: 5, sbatchArgs: ["-A", "p"] });
    await write({ resource: {} });
    await assertRejects(loadProjectConfig(`${dir}/c.json`), "unknown section(s) resource");
    await write({ slurm: { pollSecs: 1 } });
    await assertRejects(loadProjectConfig(`${dir}/c.json`), "unknown setting slurm.pollSecs");
    await write({ resources: { train: { gpus: -1 } } });
    await assertRejects(loadProjectConfig(`${dir}/c.json`), "resources.train.gpus");
    await Deno.writeTextFile(`${dir}/c.json`, "{ nope");
    await assertRejects(loadProjectConfig(`${dir}/c.json`), "not valid JSON");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function assertRejects(p: Promise<unknown>, msg: string) {
  try {
    await p;
  } catch (e) {
    if (!(e as Error).message.includes(msg)) {
      throw new Error(`"${(e as Error).message}" lacks "${msg}"`);
    }
    return;
  }
  throw new Error(`did not reject (expected "${msg}")`);
}
