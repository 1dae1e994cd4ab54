import { assertEquals } from "../tests/assert.ts";
import { RowSorters } from "./sorted_rows.ts";
import { Rng } from "../nn/rng.ts";

Deno.test("RowSorters: a hand-computed case, in this thread and on workers", async () => {
  // Rows (directions) of 3 values: sorted |a - b| means are 3/3 = 1 and 6/3 = 2 -> 1.5; the
  // second b is a itself (0).
  const a = Float32Array.from([3, 1, 2, 0, 0, 0]);
  const b = Float32Array.from([1, 1, 1, 1, 2, 3]);
  for (const size of [1, 2]) {
    const s = new RowSorters(size);
    try {
      assertEquals(await s.meanDistances(a, [b, a], 3), [1.5, 0]);
    } finally {
      s.close();
    }
  }
});

Deno.test("RowSorters: the same bits from 1, 2 and 3 workers (rows split unevenly)", async () => {
  const rng = new Rng(8);
  const n = 1000, count = 7;
  const a = rng.normalArray(n * count);
  const bs = [rng.normalArray(n * count), rng.normalArray(n * count)];
  const results = [];
  for (const size of [1, 2, 3]) {
    const s = new RowSorters(size);
    try {
      results.push(await s.meanDistances(a, bs, n));
      results.push(await s.meanDistances(a, bs, n)); // its buffers reused
    } finally {
      s.close();
    }
  }
  for (const r of results) assertEquals(r, results[0]);
  assertEquals(results[0].length, 2);
});
