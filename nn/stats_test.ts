import { assertEquals, assertThrows } from "../tests/assert.ts";
import { median } from "./stats.ts";

Deno.test("median: odd and even counts, unsorted input left as it was, empty refused", () => {
  const xs = [5, 1, 4];
  assertEquals(median(xs), 4);
  assertEquals(xs, [5, 1, 4]);
  assertEquals(median([10, 2, 8, 4]), 6);
  assertThrows(() => median([]), "empty");
});
