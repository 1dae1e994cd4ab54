import { assert, assertEquals } from "../tests/assert.ts";
import type { StageContext } from "../pipeline/stage.ts";
import { trainingProgress } from "./training_progress.ts";

function recordingContext() {
  const lines: string[] = [];
  const logs: string[] = [];
  const ctx = {
    progress: (done: number, total: number, label?: string) =>
      lines.push(`${done}/${total} ${label ?? ""}`.trim()),
    log: (m: string) => logs.push(m),
  } as unknown as StageContext<unknown>;
  return { ctx, lines, logs };
}

Deno.test("a training stage shows a progress line before its first step", () => {
  const { ctx, lines } = recordingContext();
  trainingProgress(ctx, "onednn", 1000, () => 0);
  assertEquals(lines, ["0/1000 first step"]);
});

Deno.test("an ETA over an hour on the plain cpu backend is explained once", () => {
  let t = 0;
  const { ctx, lines, logs } = recordingContext();
  const progress = trainingProgress(ctx, "cpu", 1000, () => t);
  t = 125_000; // one step in 125 s: 1000 steps take ~35 h
  progress(1, 1000, "L1 0.5");
  t = 250_000;
  progress(2, 1000, "L1 0.4");
  assertEquals(lines.length, 3);
  assertEquals(logs.length, 1);
  assert(/about 34h4\dm left on the plain cpu backend/.test(logs[0]), logs[0]);
  assert(/apt-get install libdnnl2/.test(logs[0]), logs[0]);
});

Deno.test("no note where the ETA is under an hour or the backend is fast", () => {
  for (const [backend, msPerStep] of [["cpu", 3000], ["onednn", 125_000]] as const) {
    let t = 0;
    const { ctx, logs } = recordingContext();
    const progress = trainingProgress(ctx, backend, 1000, () => t);
    t = msPerStep;
    progress(1, 1000);
    assertEquals(logs, [], `${backend} at ${msPerStep} ms per step`);
  }
});
