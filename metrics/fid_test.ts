/**
 * The fast FID/KID paths against the textbook ones: frechet.ts (checked against pytorch-fid's
 * scipy computation) and kid.ts (checked against numpy), on both sides of n = d, and the
 * eigen-solver against hand-computed and Jacobi eigenvalues.
 */
import { assert, assertAllClose, assertEquals } from "../tests/assert.ts";
import { Rng } from "../nn/rng.ts";
import { frechetDistance, meanCov, symmetricEigen } from "./frechet.ts";
import { kernelInceptionDistance } from "./kid.ts";
import {
  fidFromFeatures,
  kidFromFeatures,
  symmetricEigenDecomposition,
  symmetricEigenvalues,
} from "./fid.ts";

const sorted = (a: Float64Array) => [...a].sort((x, y) => x - y);

function randomSymmetric(rng: Rng, n: number): Float64Array {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) a[i * n + j] = a[j * n + i] = rng.normal();
  }
  return a;
}

Deno.test("symmetric eigenvalues: hand cases, Jacobi agreement, reconstruction from vectors", () => {
  assertAllClose(sorted(symmetricEigenvalues(Float64Array.from([2, 1, 1, 2]), 2)), [1, 3]);
  // diag(5, -1, 0) plus a repeated eigenvalue case.
  assertAllClose(sorted(symmetricEigenvalues(Float64Array.from([5, 0, 0, 0, -1, 0, 0, 0, 0]), 3)), [
    -1,
    0,
    5,
  ]);
  assertAllClose(sorted(symmetricEigenvalues(Float64Array.from([4, 0, 0, 4]), 2)), [4, 4]);
  const rng = new Rng(3);
  for (const n of [1, 7, 40]) {
    const a = randomSymmetric(rng, n);
    const ref = sorted(symmetricEigen(a, n).values);
    assertAllClose(sorted(symmetricEigenvalues(a, n)), ref, { rtol: 1e-9, atol: 1e-9 });
    const { values, vectors } = symmetricEigenDecomposition(a, n);
    const back = new Float64Array(n * n);
    for (let k = 0; k < n; k++) {
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          back[i * n + j] += vectors[k * n + i] * values[k] * vectors[k * n + j];
        }
      }
    }
    assertAllClose(back, a, { rtol: 1e-9, atol: 1e-9 });
  }
});

Deno.test("fast FID equals frechet.ts on pytorch-fid's scipy case (n > d)", async () => {
  const c = JSON.parse(
    await Deno.readTextFile(
      new URL("../tests/fixtures/metrics/frechet_case.json", import.meta.url),
    ),
  );
  const x1 = Float64Array.from(c.x1), x2 = Float64Array.from(c.x2);
  assertAllClose([fidFromFeatures(x1, c.n, x2, c.n, c.d)], [c.fid], { rtol: 1e-9 });
});

Deno.test("fast FID equals frechet.ts with fewer images than dimensions (rank-deficient)", () => {
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

Deno.test("fast KID draws the same subsets and gives kid.ts's numbers", () => {
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
