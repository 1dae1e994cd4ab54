import { assertEquals, assertThrows } from "../tests/assert.ts";
import { growthPhase } from "./growth.ts";

Deno.test("growth schedule: stable at the start, then fade + stable per doubling (hand-counted)", () => {
  // 16x16 final (level 2), start at 4; 0.1 kimg phases at batch 50 (4px) and 25 (8px, 16px):
  // level 0 stable: 2 steps; level 1 fade: 4 steps, stable 4; level 2 fade: 4, then stable.
  const g = { start: 4, fadeKimg: 0.1, stableKimg: 0.1, batchByResolution: { "8": 25, "16": 25 } };
  const at = (s: number) => {
    const p = growthPhase(s, g, 2, 50);
    return [p.resolution, p.alpha, p.batch];
  };
  assertEquals(at(0), [4, 1, 50]);
  assertEquals(at(1), [4, 1, 50]);
  assertEquals(at(2), [8, 0, 25]);
  assertEquals(at(3), [8, 0.25, 25]);
  assertEquals(at(5), [8, 0.75, 25]);
  assertEquals(at(6), [8, 1, 25]);
  assertEquals(at(9), [8, 1, 25]);
  assertEquals(at(10), [16, 0, 25]);
  assertEquals(at(12), [16, 0.5, 25]);
  assertEquals(at(14), [16, 1, 25]);
  assertEquals(at(1000), [16, 1, 25]);
});

Deno.test("growth schedule: a start resolution that is not a power of two is refused", () => {
  assertThrows(
    () => growthPhase(0, { start: 6, fadeKimg: 1, stableKimg: 1 }, 2, 8),
    /power of two/,
  );
});
