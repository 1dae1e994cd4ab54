import { assertEquals, assertThrows } from "../tests/assert.ts";
import { RadixSorter } from "./radix_sort.ts";
import { Rng } from "../nn/rng.ts";

/** Bit patterns, so -0 and +0 are told apart. */
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.slice().buffer));

Deno.test("radix sort gives exactly the order of Float32Array.prototype.sort", () => {
  const rng = new Rng(5);
  const sorter = new RadixSorter();
  for (const n of [0, 1, 7, 1000, 70000]) {
    const a = Float32Array.from({ length: n }, () => rng.normal() * 10 ** rng.int(8) / 1e3);
    // Ties, signed zeros, extremes and subnormals.
    if (n >= 7) a.set([0, -0, 3.5, 3.5, -Infinity, Infinity, 1e-45], 0);
    const want = a.slice().sort();
    const got = sorter.sort(a, new Float32Array(n));
    assertEquals(bits(got), bits(want), `n=${n}`);
  }
});

Deno.test("radix sort: in place, reused buffers, and a wrong-size destination is refused", () => {
  const sorter = new RadixSorter();
  const big = Float32Array.from([5, -1, 3, -7, 0.5]);
  assertEquals(Array.from(sorter.sort(big, big)), [-7, -1, 0.5, 3, 5]);
  // A shorter array after a longer one: leftovers in the scratch buffers must not leak in.
  assertEquals(Array.from(sorter.sort(Float32Array.from([2, -2]), new Float32Array(2))), [-2, 2]);
  assertThrows(() => sorter.sort(big, new Float32Array(3)), "dst has 3 values");
});
