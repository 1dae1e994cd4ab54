/** The fast KID against the textbook one, kid_reference.ts (itself checked against numpy). */
import { assertAllClose, assertEquals } from "../tests/assert.ts";
import { Rng } from "../nn/rng.ts";
import { kernelInceptionDistance } from "./kid_reference.ts";
import { kidFromFeatures } from "./kid.ts";

Deno.test("fast KID draws the same subsets and gives kid_reference.ts's numbers", () => {
  const rng = new Rng(8);
  const d = 12;
  const fake = rng.normalArray(70 * d), real = rng.normalArray(50 * d).map((v) => v + 0.3);
  for (const opts of [{ subsets: 7, subsetSize: 20, seed: 2 }, { subsets: 3, seed: 9 }]) {
    const want = kernelInceptionDistance(fake, real, d, opts);
    const got = kidFromFeatures(fake, real, d, opts);
    assertAllClose([got.mean, got.std], [want.mean, want.std], { rtol: 1e-10, atol: 1e-13 });
  }
  assertEquals(kidFromFeatures(fake, real, d, { subsets: 1 }).std, 0);
});
