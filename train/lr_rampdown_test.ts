import { assert, assertEquals } from "../tests/assert.ts";
import { lrScaleAt } from "./lr_rampdown.ts";

Deno.test("lrScaleAt: 1 before the ramp-down, then a half cosine to 0 (hand-computed points)", () => {
  assertEquals([0, 5, 9].map((s) => lrScaleAt(s, 10, 0)), [1, 1, 1]);
  // 10 steps, the last 40% ramped: starts at step 6, halfway (t = 0.5) at step 8.
  assertEquals(lrScaleAt(0, 10, 0.4), 1);
  assertEquals(lrScaleAt(6, 10, 0.4), 1);
  assert(Math.abs(lrScaleAt(7, 10, 0.4) - (1 + Math.SQRT1_2) / 2) < 1e-12); // cos(pi/4)
  assert(Math.abs(lrScaleAt(8, 10, 0.4) - 0.5) < 1e-12);
  assertEquals(lrScaleAt(10, 10, 0.4), 0);
  assertEquals(lrScaleAt(0, 4, 1), 1);
  assert(Math.abs(lrScaleAt(3, 4, 1) - (1 + Math.cos((3 * Math.PI) / 4)) / 2) < 1e-12);
});
