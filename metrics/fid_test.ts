/**
 * The fast FID against the textbook one, fid_reference.ts (itself checked against pytorch-fid's
 * scipy computation), on both sides of n = d.
 */
import { assert, assertAllClose } from "../tests/assert.ts";
import { Rng } from "../nn/rng.ts";
import { meanCov } from "./feature_rows.ts";
import { frechetDistance } from "./fid_reference.ts";
import { fidFromFeatures } from "./fid.ts";

Deno.test("fast FID equals fid_reference.ts on pytorch-fid's scipy case (n > d)", async () => {
  const c = JSON.parse(
    await Deno.readTextFile(
      new URL("../tests/fixtures/metrics/frechet_case.json", import.meta.url),
    ),
  );
  const x1 = Float64Array.from(c.x1), x2 = Float64Array.from(c.x2);
  assertAllClose([fidFromFeatures(x1, c.n, x2, c.n, c.d)], [c.fid], { rtol: 1e-9 });
});

Deno.test("fast FID equals fid_reference.ts with fewer images than dimensions (rank-deficient)", () => {
  const rng = new Rng(5);
  const d = 48;
  for (const [n1, n2] of [[10, 10], [12, 30], [30, 12], [60, 60]]) {
    const x1 = rng.normalArray(n1 * d),
      x2 = rng.normalArray(n2 * d).map((v, i) => v * 1.3 + (i % 3) * 0.2);
    const a = meanCov(x1, n1, d), b = meanCov(x2, n2, d);
    const ref = frechetDistance(a.mu, a.cov, b.mu, b.cov);
    assertAllClose([fidFromFeatures(x1, n1, x2, n2, d)], [ref], { rtol: 1e-8 });
  }
  // Identical sets: 0.
  const x = rng.normalArray(20 * d);
  assert(Math.abs(fidFromFeatures(x, 20, x, 20, d)) < 1e-9);
});
