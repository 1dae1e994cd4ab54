import { assertEquals } from "../tests/assert.ts";
import { progressLine } from "./progress.ts";

Deno.test("progress: no ETA from the first moments; then from the average rate", () => {
  let t = 0;
  const lines: string[] = [];
  const line = progressLine("prepare", (l) => lines.push(l), () => t);
  const slow = progressLine("train", (l) => lines.push(l), () => t);
  t = 400; // 16 of 12000 after 0.4 s (start-up included): 5 minutes by that rate
  line.update(16, 12000);
  t = 700; // 10% after 0.7 s: 6.3 s to go
  line.update(1200, 12000);
  t = 6000; // under 1% but 6 s in: 0.5% -> 1194 s to go
  slow.update(5, 1000);
  assertEquals(lines, [
    "prepare   0% 16/12000  elapsed 0.4s  ETA ?",
    "prepare  10% 1200/12000  elapsed 0.7s  ETA 6.3s",
    "train   1% 5/1000  elapsed 6.0s  ETA 19m54s",
  ]);
});
