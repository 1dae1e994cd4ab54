import { assertEquals } from "../tests/assert.ts";
import { prepareDataset } from "../data/prepare.ts";
import { readFloatArray } from "../data/zarr_arrays.ts";
import { holdoutCount, trainingSplit } from "./prepared_dataset.ts";

Deno.test("trainingSplit holds out the last images (at most a quarter) and trains on the rest", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await prepareDataset({
      source: { kind: "procedural", count: 20, size: 8, seed: 1 },
      resolution: 8,
      out: dir,
    });
    assertEquals(holdoutCount(256, 20), 5);
    assertEquals(holdoutCount(3, 20), 3);
    const split = await trainingSplit(dir, { holdout: 256, batch: 4, seed: 2 });
    assertEquals([split.resolution, split.count, split.holdout], [8, 20, 5]);
    const all = await readFloatArray(dir, "images/8");
    const per = 8 * 8 * 3;
    const held = await split.heldOut();
    assertEquals(held.length, 5 * per);
    // Hand-computed: byte v is v / 127.5 - 1.
    for (const i of [0, 17, 5 * per - 1]) {
      assertEquals(held[i], Math.fround(all.data[15 * per + i] / 127.5 - 1));
    }
    // Batches draw only from the first 15 images: the union of 4 epochs' rows covers exactly them.
    const seen = new Set<string>();
    for (let step = 0; step < 15; step++) {
      const b = await split.batches.batch(step);
      for (let j = 0; j < 4; j++) seen.add(b.subarray(j * per, j * per + 16).join(","));
    }
    const train = new Set<string>();
    for (let k = 0; k < 15; k++) {
      const x = Float32Array.from(all.data.subarray(k * per, k * per + 16), (v) => v / 127.5 - 1);
      train.add(x.join(","));
    }
    assertEquals([...seen].sort(), [...train].sort());
    await split.batches.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
