import { assertEquals } from "../tests/assert.ts";
import { evenlySpaced } from "./report.ts";

Deno.test("evenlySpaced: all when few, else first, last and even steps between", () => {
  const steps = Array.from({ length: 24 }, (_, i) => 250 * (i + 1)); // 250 ... 6000
  assertEquals(evenlySpaced(steps.slice(0, 6), 12), steps.slice(0, 6));
  // 24 -> 4: indices 0, 7.67 -> 8, 15.33 -> 15, 23.
  assertEquals(evenlySpaced(steps, 4), [250, 2250, 4000, 6000]);
  assertEquals(evenlySpaced(steps, 12).length, 12);
  assertEquals(evenlySpaced(steps, 12).at(-1), 6000);
  assertEquals(evenlySpaced(steps, 1), [6000]);
});
