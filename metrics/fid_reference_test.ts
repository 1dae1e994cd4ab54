import { assertAllClose } from "../tests/assert.ts";
import { frechetDistance, sqrtPsd } from "./fid_reference.ts";
import { meanCov } from "./feature_rows.ts";

const c = JSON.parse(
  await Deno.readTextFile(new URL("../tests/fixtures/metrics/frechet_case.json", import.meta.url)),
);

Deno.test("Frechet distance matches pytorch-fid's scipy sqrtm computation; covariance matches np.cov", () => {
  const a = meanCov(Float64Array.from(c.x1), c.n, c.d);
  const b = meanCov(Float64Array.from(c.x2), c.n, c.d);
  assertAllClose(a.cov, c.cov1, { rtol: 1e-9, atol: 1e-12 });
  assertAllClose([frechetDistance(a.mu, a.cov, b.mu, b.cov)], [c.fid], { rtol: 1e-7, atol: 1e-9 });
});

Deno.test("FID test vector: means 0 and 1, identity covariances, 2048-d -> 2048", () => {
  const d = 2048;
  const eye = new Float64Array(d * d);
  for (let i = 0; i < d; i++) eye[i * d + i] = 1;
  const fid = frechetDistance(new Float64Array(d), eye, new Float64Array(d).fill(1), eye);
  assertAllClose([fid], [2048], { rtol: 1e-9 });
});

Deno.test("sqrtPsd squares back to the matrix (hand-made 3x3)", () => {
  const m = Float64Array.from([4, 1, 0, 1, 3, 1, 0, 1, 2]);
  const r = sqrtPsd(m, 3);
  const sq = new Float64Array(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      for (let k = 0; k < 3; k++) sq[i * 3 + j] += r[i * 3 + k] * r[k * 3 + j];
    }
  }
  assertAllClose(sq, m, { rtol: 1e-10, atol: 1e-12 });
});
