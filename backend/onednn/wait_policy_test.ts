/** The CPU-busy sample that picks OpenMP's wait policy (ffi.ts `chooseWaitPolicy`). */
import { assert } from "../../tests/assert.ts";
import { busyFraction } from "./ffi.ts";

Deno.test({
  name: "busyFraction: threads spinning on k of n cores show as at least k/n busy",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const cores = navigator.hardwareConcurrency, k = Math.min(cores, 8);
    const spin = `const end = Date.now() + 700; while (Date.now() < end) {} postMessage("done");`;
    const url = URL.createObjectURL(new Blob([spin], { type: "text/javascript" }));
    const workers = Array.from({ length: k }, () => new Worker(url, { type: "module" }));
    const done = workers.map((w) => new Promise((resolve) => (w.onmessage = resolve)));
    await new Promise((r) => setTimeout(r, 200)); // the workers are running
    const busy = busyFraction(200);
    await Promise.all(done);
    workers.forEach((w) => w.terminate());
    URL.revokeObjectURL(url);
    assert(busy !== null, "no /proc/stat sample");
    assert(
      busy >= 0.8 * k / cores && busy <= 1,
      `busy ${busy} with ${k} of ${cores} cores spinning`,
    );
  },
});
