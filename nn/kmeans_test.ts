import { assert, assertAllClose, assertEquals, assertThrows } from "../tests/assert.ts";
import { initBackend } from "../backend/mod.ts";
import { kmeans, nearestCentroid } from "./kmeans.ts";
import { Rng } from "./rng.ts";

await initBackend("cpu");

Deno.test("nearestCentroid: hand-computed squared distances", () => {
  // (1, 1) is 1 from (1, 0) and 2 from (0, 0); (-1, 0) is 1 from (0, 0) and 4 from (1, 0).
  const got = nearestCentroid(
    new Float32Array([1, 1, -1, 0, 0.9, -0.2]),
    new Float32Array([0, 0, 1, 0]),
    2,
  );
  assertEquals(Array.from(got), [1, 0, 1]);
});

Deno.test("k-means finds three separated blobs, their means as centres, the same for a seed", () => {
  const rng = new Rng(3), centres = [[0, 0], [10, 0], [0, 10]], per = 40;
  const pts: number[] = [], blob: number[] = [];
  for (let i = 0; i < 3 * per; i++) {
    const b = i % 3;
    pts.push(centres[b][0] + rng.normal(), centres[b][1] + rng.normal());
    blob.push(b);
  }
  const x = new Float32Array(pts);
  const r = kmeans(x, 2, 3, { seed: 1 });
  // One cluster per blob, whatever the numbering.
  const clusterOf = [0, 1, 2].map((b) => r.assignment[blob.indexOf(b)]);
  assertEquals(new Set(clusterOf).size, 3);
  blob.forEach((b, i) => assertEquals(r.assignment[i], clusterOf[b], `point ${i}`));
  assertEquals(r.sizes, [per, per, per]);
  for (let b = 0; b < 3; b++) {
    const mean = [0, 1].map((t) => {
      let s = 0;
      for (let i = b; i < 3 * per; i += 3) s += x[2 * i + t];
      return s / per;
    });
    assertAllClose(r.centroids.subarray(clusterOf[b] * 2, clusterOf[b] * 2 + 2), mean, {
      rtol: 1e-5,
    });
  }
  assert(r.iterations >= 1 && r.iterations < 30, `${r.iterations} iterations`);
  const again = kmeans(x, 2, 3, { seed: 1 });
  assertEquals(Array.from(again.centroids), Array.from(r.centroids));
});

Deno.test("k-means refuses more clusters than points, by name", () => {
  assertThrows(() => kmeans(new Float32Array(4), 2, 3, { seed: 1 }), "3 clusters need");
});
