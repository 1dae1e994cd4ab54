/**
 * How `--backend auto` chooses (tensorflow, then a hardware WebGPU adapter, then onednn, then
 * cpu), with packages and adapters faked through the injectable loader: a package that is
 * present but fails to load gives exactly one note naming it, and selection goes on to the next.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertRejects } from "../tests/assert.ts";
import { select } from "./mod.ts";
import type { AdapterLike, BackendLoader } from "./loader.ts";

interface Fake {
  installed?: string[];
  broken?: string[];
  adapter?: AdapterLike | null;
  /** Backends whose start fails (setBackend answers false). */
  failing?: string[];
}

/** A loader over fake packages; tfjs's real setBackend for the backends it really has. */
function fakeLoader(f: Fake): BackendLoader & { notes: string[]; loaded: string[] } {
  const notes: string[] = [], loaded: string[] = [];
  return {
    notes,
    loaded,
    exists: (path) =>
      Promise.resolve((f.installed ?? []).some((p) => path === `node_modules/${p}/package.json`)),
    load: (spec) => {
      if ((f.broken ?? []).includes(spec)) {
        return Promise.reject(new Error(`libtensorflow.so.2: cannot open shared object file\n...`));
      }
      loaded.push(spec);
      return Promise.resolve({});
    },
    setBackend: (name) => {
      if ((f.failing ?? []).includes(name)) return Promise.resolve(false);
      // Backends this test process does not have are taken as started.
      return tf.findBackend(name) ? tf.setBackend(name) : Promise.resolve(true);
    },
    requestAdapter: () => Promise.resolve(f.adapter ?? null),
    note: (line) => notes.push(line),
  };
}

const GPU = { info: { vendor: "nvidia", description: "NVIDIA H100" } };
const LAVAPIPE = { info: { vendor: "65541", description: "llvmpipe (LLVM 15.0.6, 256 bits)" } };
/** What auto falls back to on this machine: onednn where libdnnl is installed, else cpu. */
const CPU_NAMES = ["onednn", "cpu"];

Deno.test("auto: an installed tfjs-node-gpu that loads is chosen first", async () => {
  const l = fakeLoader({ installed: ["@tensorflow/tfjs-node-gpu"], adapter: GPU });
  const info = await select("auto", l);
  assertEquals([info.name, info.detail], ["tensorflow", "@tensorflow/tfjs-node-gpu"]);
  assertEquals(l.notes, []);
});

Deno.test("auto: tfjs-node-gpu present but failing to load -> one note, then WebGPU", async () => {
  const l = fakeLoader({
    installed: ["@tensorflow/tfjs-node-gpu"],
    broken: ["@tensorflow/tfjs-node-gpu"],
    adapter: GPU,
  });
  const info = await select("auto", l);
  assertEquals(info.name, "webgpu");
  assert(info.detail.includes("NVIDIA H100"), info.detail);
  assertEquals(l.notes.length, 1, l.notes.join("\n"));
  assert(
    l.notes[0].includes("@tensorflow/tfjs-node-gpu is present but failed to load"),
    l.notes[0],
  );
  assert(l.notes[0].includes("libtensorflow.so.2"), "the note says why");
  assert(!l.notes[0].includes("\n"), "one line");
});

Deno.test("auto: failing tfjs-node-gpu falls through to tfjs-node when that loads", async () => {
  const l = fakeLoader({
    installed: ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"],
    broken: ["@tensorflow/tfjs-node-gpu"],
  });
  const info = await select("auto", l);
  assertEquals([info.name, info.detail], ["tensorflow", "@tensorflow/tfjs-node"]);
  assertEquals(l.notes.length, 1);
});

Deno.test("auto: a software adapter (lavapipe) is passed over for the CPU, silently", async () => {
  const l = fakeLoader({ adapter: LAVAPIPE });
  const info = await select("auto", l);
  assert(CPU_NAMES.includes(info.name), info.name);
  assertEquals(l.loaded, [], "the WebGPU backend is not even loaded");
  assertEquals(l.notes.filter((n) => /WebGPU|tfjs-node/.test(n)), []);
});

Deno.test("auto: WebGPU that fails to start -> one note, then the CPU", async () => {
  const l = fakeLoader({ adapter: GPU, failing: ["webgpu"] });
  const info = await select("auto", l);
  assert(CPU_NAMES.includes(info.name), info.name);
  const notes = l.notes.filter((n) => n.includes("WebGPU"));
  assertEquals(notes.length, 1, l.notes.join("\n"));
  assert(notes[0].includes("failed to start") && notes[0].includes("NVIDIA H100"), notes[0]);
});

Deno.test("explicit webgpu takes a software adapter, and says it is software", async () => {
  const l = fakeLoader({ adapter: LAVAPIPE });
  const info = await select("webgpu", l);
  assertEquals(info.name, "webgpu");
  assert(info.detail.includes("llvmpipe") && info.detail.includes("software"), info.detail);
});

Deno.test("explicit backends that are missing fail with what to install", async () => {
  await assertRejects(() => select("tensorflow", fakeLoader({})), "tfjs-node-gpu");
  await assertRejects(() => select("webgpu", fakeLoader({ adapter: null })), "no WebGPU adapter");
  // Present but broken, asked for by name: the note, then the install hint.
  const l = fakeLoader({ installed: ["@tensorflow/tfjs-node"], broken: ["@tensorflow/tfjs-node"] });
  await assertRejects(() => select("tensorflow", l), "CUDA 11.2");
  assertEquals(l.notes.length, 1);
});

Deno.test("looking for an adapter without XDG_RUNTIME_DIR: Mesa stays quiet, nothing is left set", async () => {
  const LOADER = new URL("./loader.ts", import.meta.url).href;
  const script = `import { defaultLoader } from "${LOADER}";
const a = await defaultLoader.requestAdapter();
console.log(JSON.stringify({ found: a !== null, after: Deno.env.get("XDG_RUNTIME_DIR") ?? null }));`;
  const env = { ...Deno.env.toObject() };
  delete env.XDG_RUNTIME_DIR;
  const tmp = await Deno.makeTempDir({ prefix: "ganflow-select-" });
  env.TMPDIR = tmp; // where the private directory is made: empty again after
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert(out.success, stderr);
  const r = JSON.parse(new TextDecoder().decode(out.stdout));
  assertEquals(r.after, null);
  // Mesa prints its complaint where it finds an adapter (lavapipe here when installed).
  if (r.found) assert(!stderr.includes("XDG_RUNTIME_DIR"), stderr);
  assertEquals([...Deno.readDirSync(tmp)].map((e) => e.name), []);
  await Deno.remove(tmp);
});
