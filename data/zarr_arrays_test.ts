import { assert, assertAllClose, assertEquals, assertRejects } from "../tests/assert.ts";
import { openArrayBatches, readFloatArray, writeFloatArray } from "./zarr_arrays.ts";

/** Row i, element k holds i * 100 + k: every value says where it came from. */
function rows(n: number, per: number): Float32Array {
  return Float32Array.from({ length: n * per }, (_, j) => Math.floor(j / per) * 100 + (j % per));
}

for (const format of [2, 3] as const) {
  Deno.test(`float array v${format}: round trip with a ragged last chunk keeps values, shape, attrs`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const data = rows(7, 2 * 2 * 3);
      await writeFloatArray(dir, "codes", data, [7, 2, 2, 3], {
        attributes: { mean: [0.5], note: "x" },
        format,
        chunkRows: 3,
      });
      const back = await readFloatArray(dir, "codes");
      assertEquals(back.shape, [7, 2, 2, 3]);
      assertEquals(Array.from(back.data), Array.from(data));
      assertEquals(back.attrs.note, "x");
      assertEquals(back.attrs.mean, [0.5]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("float array: values that do not fill the shape are refused with both sizes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assertRejects(
      () => writeFloatArray(dir, "codes", new Float32Array(10), [3, 2, 2, 1]),
      "10 values do not fill shape [3,2,2,1] (12)",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("array batches: one epoch is a permutation of all rows; batch(step) fixed by (seed, step)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const n = 10, per = 2;
    await writeFloatArray(dir, "codes", rows(n, per), [n, 1, 1, per], { chunkRows: 4 });
    const a = await openArrayBatches({ store: dir, array: "codes", batchSize: 5, seed: 3 });
    const seen: number[] = [];
    for (const step of [0, 1]) {
      const b = await a.batch(step);
      for (let j = 0; j < 5; j++) {
        const row = b[j * per] / 100;
        assert(Number.isInteger(row), `row id ${row}`);
        // Stored floats come back unscaled, with each row's elements intact.
        assertAllClose([b[j * per + 1]], [row * 100 + 1]);
        seen.push(row);
      }
      // indices(step) names the rows batch(step) holds, in order.
      assertEquals(Array.from(a.indices!(step)), seen.slice(5 * step));
    }
    assertEquals(seen.slice().sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // A fresh reader asked for step 1 first (no prefetch history) gives the same batch.
    const again = await openArrayBatches({
      store: dir,
      array: "codes",
      batchSize: 5,
      seed: 3,
      prefetch: false,
    });
    assertEquals(Array.from(await again.batch(1)), Array.from(await a.batch(1)));
    const other = await openArrayBatches({ store: dir, array: "codes", batchSize: 5, seed: 4 });
    const orders = [Array.from(await a.batch(0)), Array.from(await other.batch(0))];
    assert(orders[0].join() !== orders[1].join(), "different seeds should give different orders");
    await Promise.all([a.close(), again.close(), other.close()]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
