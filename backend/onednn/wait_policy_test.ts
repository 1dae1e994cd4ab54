/** The CPU-busy sample that picks OpenMP's wait policy (ffi.ts `chooseWaitPolicy`). */
import { assert } from "../../tests/assert.ts";
import { busyFraction } from "./ffi.ts";

Deno.test({
  name: "busyFraction: other processes spinning on k of n cores show as at least k/n busy",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const cores = navigator.hardwareConcurrency, k = Math.min(cores, 8);
    const spin = "const end = Date.now() + 1200; while (Date.now() < end) {}";
    const procs = Array.from(
      { length: k },
      () => new Deno.Command(Deno.execPath(), { args: ["eval", spin] }).spawn(),
    );
    await new Promise((r) => setTimeout(r, 500)); // past their start-up: spinning
    const busy = busyFraction(200);
    await Promise.all(procs.map((p) => p.status));
    assert(busy !== null, "no /proc/stat sample");
    assert(
      busy >= 0.8 * k / cores && busy <= 1,
      `busy ${busy} with ${k} of ${cores} cores spinning`,
    );
  },
});

Deno.test({
  name: "busyFraction: this process's own threads are not counted as load",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const cores = navigator.hardwareConcurrency, k = Math.min(cores, 8);
    const spin = `const end = Date.now() + 700; while (Date.now() < end) {} postMessage("done");`;
    const url = URL.createObjectURL(new Blob([spin], { type: "text/javascript" }));
    const workers = Array.from({ length: k }, () => new Worker(url, { type: "module" }));
    const done = workers.map((w) => new Promise((resolve) => (w.onmessage = resolve)));
    await new Promise((r) => setTimeout(r, 200));
    const busy = busyFraction(200);
    await Promise.all(done);
    workers.forEach((w) => w.terminate());
    URL.revokeObjectURL(url);
    assert(busy !== null, "no /proc/stat sample");
    // Counted, our workers alone would make every core busy (k = n here; on larger machines this
    // check cannot tell); not counted, what remains is other processes' share, well below that.
    if (k === cores) assert(busy < 0.9, `busy ${busy}: our own ${k} workers were counted`);
  },
});
