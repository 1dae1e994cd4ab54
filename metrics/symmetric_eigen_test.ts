/** The tridiagonal-QL eigen-solver against hand-computed eigenvalues and fid_reference.ts's Jacobi. */
import { assertAllClose } from "../tests/assert.ts";
import { Rng } from "../nn/rng.ts";
import { symmetricEigen } from "./fid_reference.ts";
import { symmetricEigenDecomposition, symmetricEigenvalues } from "./symmetric_eigen.ts";

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
