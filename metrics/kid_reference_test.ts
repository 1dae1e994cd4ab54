import { assert, assertAllClose } from "../tests/assert.ts";
import { kernelInceptionDistance, mmd2Unbiased } from "./kid_reference.ts";
import { Rng } from "../nn/rng.ts";

const c = JSON.parse(
  await Deno.readTextFile(new URL("../tests/fixtures/metrics/kid_case.json", import.meta.url)),
);

Deno.test("unbiased polynomial MMD² matches a numpy reference on the same subsets", () => {
  for (const k of c.cases) {
    assertAllClose(
      [mmd2Unbiased(Float64Array.from(c.x), k.ix, Float64Array.from(c.y), k.iy, c.d)],
      [k.mmd2],
      {
        rtol: 1e-10,
        atol: 1e-12,
      },
    );
  }
});

Deno.test("KID: same distribution ~0 (unbiased: either sign), shifted distribution clearly > 0", () => {
  const r = new Rng(4);
  const d = 8, n = 200;
  const a = r.normalArray(n * d),
    b = r.normalArray(n * d),
    shifted = r.normalArray(n * d).map((v) => v + 0.5);
  const same = kernelInceptionDistance(a, b, d, { subsets: 20, subsetSize: 100, seed: 1 });
  const diff = kernelInceptionDistance(a, shifted, d, { subsets: 20, subsetSize: 100, seed: 1 });
  assert(Math.abs(same.mean) < 3 * same.std + 0.01, `same ${same.mean} +- ${same.std}`);
  assert(
    diff.mean > 10 * Math.abs(same.mean) && diff.mean > 0.05,
    `shifted ${diff.mean} vs ${same.mean}`,
  );
});
