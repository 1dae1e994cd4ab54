import { assertAllClose, assertThrows } from "../tests/assert.ts";
import { gaussianWindow, msSsim, msSsimConsecutivePairs } from "./ms_ssim.ts";

const c = JSON.parse(
  await Deno.readTextFile(new URL("../tests/fixtures/metrics/ms_ssim_case.json", import.meta.url)),
);
const set = (px: number[], n = c.n) => ({
  data: Uint8Array.from(px),
  n,
  h: c.size,
  w: c.size,
  c: 3,
});

Deno.test("MS-SSIM agrees with an independent numpy/scipy implementation (fftconvolve)", () => {
  assertAllClose([msSsim(set(c.a), set(c.b))], [c.msssim], { rtol: 1e-6, atol: 1e-9 });
  assertAllClose([msSsimConsecutivePairs(set(c.a))], [c.pairs], { rtol: 1e-6, atol: 1e-9 });
});

Deno.test("MS-SSIM of identical images is 1; Gaussian window sums to 1 and is centred", () => {
  assertAllClose([msSsim(set(c.a), set(c.a))], [1], { rtol: 1e-12, atol: 1e-12 });
  const g = gaussianWindow(11, 1.5);
  assertAllClose([g.reduce((s, v) => s + v, 0)], [1], { rtol: 1e-12 });
  assertAllClose([g[5 * 11 + 4]], [g[5 * 11 + 6]], { rtol: 1e-12 }); // symmetric about the centre
  assertThrows(() => msSsim(set(c.a), set(c.b.slice(0, 3 * 48 * 48 * 3), 3)), "differ in shape");
});
