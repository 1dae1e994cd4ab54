import { assert, assertAllClose } from "../tests/assert.ts";
import {
  descriptors,
  type ImageSet,
  laplacianPyramid,
  normaliseDescriptors,
  slicedDistance,
  slicedWassersteinDistance,
  slicedWassersteinDistances,
} from "./swd.ts";
import { assertEquals, assertRejects } from "../tests/assert.ts";
import { initBackend } from "../backend/mod.ts";
import { Rng } from "../nn/rng.ts";

await initBackend("cpu");

Deno.test("SWD agrees with an independent numpy/scipy port given the same patches and directions", async () => {
  const c = JSON.parse(
    await Deno.readTextFile(new URL("../tests/fixtures/metrics/swd_case.json", import.meta.url)),
  );
  const set = (px: number[]): ImageSet => ({
    data: Uint8Array.from(px),
    n: c.n,
    h: c.size,
    w: c.size,
    c: 3,
  });
  const pa = laplacianPyramid(set(c.a), c.levels.length);
  const pb = laplacianPyramid(set(c.b), c.levels.length);
  type Level = { centresA: number[][]; centresB: number[][]; dirs: number[][]; swd: number };
  for (const [i, lvl] of (c.levels as Level[]).entries()) {
    const da = descriptors(pa[i], 3, Int32Array.from(lvl.centresA.flat()));
    const db = descriptors(pb[i], 3, Int32Array.from(lvl.centresB.flat()));
    normaliseDescriptors(da, 3);
    normaliseDescriptors(db, 3);
    const d = await Promise.all(
      lvl.dirs.map((dirs) => slicedDistance(da, db, 147, Float32Array.from(dirs), 32)),
    );
    const swd = (d.reduce((x, y) => x + y) / d.length) * 1e3;
    assertAllClose([swd], [lvl.swd], { rtol: 1e-4, atol: 0, msg: `level ${i}` });
  }
});

Deno.test("SWD: identical sets give ~0; the distance grows as noise is added", async () => {
  const rng = new Rng(1);
  const n = 16, s = 32;
  const base = new Float32Array(n * s * s * 3);
  // Smooth structured images (gradients + a blob), values in [0, 255].
  for (let i = 0; i < n; i++) {
    const cx = rng.uniform() * s, cy = rng.uniform() * s;
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        for (let k = 0; k < 3; k++) {
          base[((i * s + y) * s + x) * 3 + k] = 127 +
            100 * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 40) *
              Math.cos(k + i);
        }
      }
    }
  }
  const set = (data: Float32Array): ImageSet => ({ data, n, h: s, w: s, c: 3 });
  const opts = { seed: 3, patchesPerImage: 32 };
  const same = await slicedWassersteinDistance(set(base), set(base), opts);
  // As in ProGAN, patch positions are drawn separately for each set, so identical sets give a
  // small sampling distance rather than exactly 0: it must be well below any real difference.
  const noisy = (sd: number) => {
    const r = new Rng(9);
    return set(base.map((v) => v + sd * r.normal()));
  };
  const d: number[] = [];
  for (const sd of [4, 16, 48]) {
    d.push((await slicedWassersteinDistance(set(base), noisy(sd), opts)).average);
  }
  assert(same.average < 0.5 * d[0], `identical ${same.average} vs noise ${d[0]}`);
  assert(d[0] < d[1] && d[1] < d[2], `not monotone: ${d}`);
});

Deno.test("SWD of several fakes against one real set: each equals its own single call", async () => {
  const rng = new Rng(5);
  const n = 6, size = 32;
  const images = () => ({
    data: Float32Array.from({ length: n * size * size * 3 }, () => 255 * rng.uniform()),
    n,
    h: size,
    w: size,
    c: 3,
  });
  // Six fakes: more than one group of those held at once.
  const real = images(), fakes = [images(), images(), images(), images(), images(), images()];
  const opts = { seed: 11, patchesPerImage: 16, dirsPerRepeat: 8, repeats: 2 };
  const shared = await slicedWassersteinDistances(real, fakes, opts);
  const single = [];
  for (const f of fakes) single.push(await slicedWassersteinDistance(real, f, opts));
  assertEquals(shared, single);
  // Distinct fakes give distinct values (the sharing does not collapse them).
  assertEquals(new Set(shared.map((r) => r.average)).size, 6);
  await assertRejects(
    () => slicedWassersteinDistances(real, [{ ...fakes[0], n: 5 }], opts),
    "equal image counts (6 vs 5)",
  );
});
