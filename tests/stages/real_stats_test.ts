/**
 * `real-stats` and `evaluate` called directly on a hand-made dataset, with the Inception fixture
 * weights: the real sets are disjoint random draws from the whole dataset, fixed by the seed and
 * recorded by digest; samples identical to set A score FID ~0, fewer samples than real-stats'
 * count use prefixes of both sets (Reals2 recomputed there), weights changed under a finished
 * real-stats are refused; and a dataset stored in class order gets the Reals2 of a shuffled one.
 */
import { join } from "node:path";
import { assert, assertAlmostEquals, assertEquals } from "../assert.ts";
import type { StageContext, StageDef } from "../../pipeline/stage.ts";
import { readFloatArray, writeFloatArray } from "../../data/zarr_arrays.ts";
import { createGroup } from "../../data/zarr_io.ts";
import { extractFeatures, FEATURE_DIM, loadInception } from "../../metrics/inception.ts";
import { fidFromFeatures } from "../../metrics/fid.ts";
import { slicedWassersteinDistance } from "../../metrics/swd.ts";
import { Rng } from "../../nn/rng.ts";
import { readRealStats, realSetIndices, realStatsStage } from "../../stages/real_stats.ts";
import { createHash } from "node:crypto";
import { evaluateStage } from "../../stages/evaluate.ts";

const WEIGHTS = new URL("../fixtures/inception/inception_pattern.pt.gz", import.meta.url).pathname;
const S = 16, C = 3, N = 24, COUNT = 8, FEW = 4;

/** Smooth coloured blobs, integer values in [0, 255] (as a prepared dataset reads back). */
function images(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n * S * S * C);
  for (let i = 0; i < n; i++) {
    const cx = rng.uniform() * S, cy = rng.uniform() * S, r = 4 + 20 * rng.uniform();
    const tint = [rng.uniform(), rng.uniform(), rng.uniform()];
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const v = Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / r);
        for (let k = 0; k < C; k++) {
          out[((i * S + y) * S + x) * C + k] = Math.round(255 * v * tint[k]);
        }
      }
    }
  }
  return out;
}

async function run(
  def: StageDef,
  params: Record<string, unknown>,
  inputs: Record<string, string>,
  dir: string,
): Promise<Record<string, string>> {
  const outputs = Object.fromEntries(
    Object.entries(def.outputs).map(([name, rel]) => [name, join(dir, rel)]),
  );
  await Deno.mkdir(dir, { recursive: true });
  const ctx: StageContext<unknown> = {
    name: def.name,
    key: "test",
    params: def.params.parse(params),
    inputs,
    outputs,
    globals: { backend: "auto" },
    records: {},
    checkpoint: { load: () => Promise.resolve(null), save: () => Promise.resolve() },
    progress: () => {},
    log: () => {},
    signal: new AbortController().signal,
  };
  await def.run(ctx);
  return outputs;
}

async function samples(dir: string, bytes: Float32Array, n: number): Promise<string> {
  const store = join(dir, "samples.zarr");
  await writeFloatArray(store, "images", bytes.map((v) => v / 127.5 - 1), [n, S, S, C]);
  return store;
}

Deno.test({
  name:
    "real-stats + evaluate: random disjoint sets, FID ~0 for samples equal to set A, prefixes, weights check",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ganflow-real-stats-" });
    try {
      const real = images(N, 3);
      const dataset = join(dir, "dataset.zarr");
      await createGroup(dataset, "", 3, { resolution: S });
      await writeFloatArray(dataset, `images/${S}`, real, [N, S, S, C]);
      const per = S * S * C;
      const gather = (idx: Uint32Array, n: number) => {
        const out = new Float32Array(n * per);
        for (let i = 0; i < n; i++) {
          out.set(real.subarray(idx[i] * per, (idx[i] + 1) * per), i * per);
        }
        return out;
      };

      const protocol = { count: COUNT, inceptionWeights: WEIGHTS, fidBatch: 8, kidSubsetSize: 8 };
      const { stats: store } = await run(
        realStatsStage as StageDef,
        protocol,
        { dataset, inception: WEIGHTS },
        join(dir, "rs"),
      );
      const stats = await readRealStats(store);
      assertEquals(stats.count, COUNT);
      assertEquals(stats.inception!.path, WEIGHTS);
      // The sets: two disjoint halves of a permutation of the whole dataset, fixed by the seed.
      const sets = realSetIndices(N, stats.seed);
      assertEquals([...sets.a, ...sets.b].sort((x, y) => x - y), [...Array(N).keys()]);
      assert(sets.a.slice(0, COUNT).some((i) => i >= N / 2), "A reaches the second half");
      assertEquals(realSetIndices(N, stats.seed), sets);
      assert(realSetIndices(N, stats.seed + 1).a.some((v, i) => v !== sets.a[i]));
      const digest = createHash("sha256");
      for (const s of [sets.a, sets.b]) {
        const le = new DataView(new ArrayBuffer(4 * COUNT));
        for (let i = 0; i < COUNT; i++) le.setUint32(4 * i, s[i], true);
        digest.update(new Uint8Array(le.buffer));
      }
      assertEquals(stats.sets.sha256, digest.digest("hex"));
      // Features of A and B, taken here from the images themselves.
      const { net } = await loadInception(WEIGHTS);
      const feats = (x: Float32Array, n: number) =>
        extractFeatures(net, x.map((v) => v / 127.5 - 1), [n, S, S, C], { batch: 8 });
      const fA = feats(gather(sets.a, COUNT), COUNT), fB = feats(gather(sets.b, COUNT), COUNT);
      assertEquals(Array.from(stats.features!.a), Array.from(fA));
      assertEquals(Array.from(stats.features!.b), Array.from(fB));
      assertAlmostEquals(
        stats.reals2.fid!,
        fidFromFeatures(fB, COUNT, fA, COUNT, FEATURE_DIM),
        1e-9,
      );

      const evaluate = async (samplesStore: string, name: string) => {
        const { metrics } = await run(
          evaluateStage as StageDef,
          { curveCount: 0 },
          { samples: samplesStore, dataset, realStats: store },
          join(dir, name),
        );
        return JSON.parse(await Deno.readTextFile(metrics));
      };
      // Samples that are set A itself: FID ~0, far below the real-vs-real FID.
      const same = await samples(join(dir, "same"), gather(sets.a, COUNT), COUNT);
      const m1 = await evaluate(same, "ev1");
      assert(Math.abs(m1.fid) < 1e-3 * m1.reals2.fid, `FID ${m1.fid} vs Reals2 ${m1.reals2.fid}`);
      assertEquals(m1.reals2.fid, stats.reals2.fid);
      assertEquals(m1.images, COUNT);

      // 4 samples: A and B become their first 4 images; Reals2 is recomputed at 4.
      const rest = sets.a.subarray(COUNT);
      const few = await samples(join(dir, "few"), gather(rest, FEW), FEW);
      const m2 = await evaluate(few, "ev2");
      assertEquals(m2.images, FEW);
      assert(m2.notes.some((t: string) => t.includes(`Reals2 recomputed at ${FEW}`)), m2.notes);
      const head = (f: Float32Array) => f.subarray(0, FEW * FEATURE_DIM);
      const fFew = feats(gather(rest, FEW), FEW);
      assertAlmostEquals(m2.reals2.fid, fidFromFeatures(head(fB), FEW, head(fA), FEW, 2048), 1e-9);
      assertAlmostEquals(m2.fid, fidFromFeatures(fFew, FEW, head(fA), FEW, FEATURE_DIM), 1e-9);
      const set = (idx: Uint32Array) => ({ data: gather(idx, FEW), n: FEW, h: S, w: S, c: C });
      const swd = await slicedWassersteinDistance(set(sets.a), set(sets.b), { seed: stats.seed });
      assertAlmostEquals(m2.reals2.swdAverage, swd.average, 1e-9);

      // Weights replaced after real-stats ran: evaluate refuses to mix two networks' features.
      const attrsPath = join(store, "zarr.json");
      const meta = JSON.parse(await Deno.readTextFile(attrsPath));
      meta.attributes.inception.sha256 = "0".repeat(64);
      await Deno.writeTextFile(attrsPath, JSON.stringify(meta));
      let refused = "";
      await evaluate(same, "ev3").catch((e) => refused = (e as Error).message);
      assert(refused.includes("changed since real-stats"), refused);
      // The samples written before are untouched by the failed run.
      assertEquals((await readFloatArray(same, "images")).shape, [COUNT, S, S, C]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Two classes unlike each other: dim blobs on the left, bright bars on the right. */
function twoClasses(n: number, seed: number): { images: Float32Array; label: Uint8Array } {
  const rng = new Rng(seed);
  const images = new Float32Array(n * S * S * C);
  const label = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    label[i] = rng.uniform() < 0.5 ? 0 : 1;
    const at = 3 + rng.uniform() * 4 + label[i] * 6;
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const v = label[i] === 0
          ? 120 * Math.exp(-((x - at) ** 2 + (y - at) ** 2) / 6)
          : (Math.abs(x - at) < 2 ? 250 : 20);
        for (let k = 0; k < C; k++) images[((i * S + y) * S + x) * C + k] = Math.round(v);
      }
    }
  }
  return { images, label };
}

Deno.test({
  name: "Reals2 of a dataset stored in class order is that of the same images shuffled",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ganflow-real-sets-" });
    try {
      const n = 1000, count = 400, per = S * S * C;
      const { images, label } = twoClasses(n, 11);
      const order = [...Array(n).keys()];
      const sorted = [...order].sort((x, y) => label[x] - label[y] || x - y);
      const reals2 = async (perm: number[], name: string) => {
        const data = new Float32Array(n * per);
        perm.forEach((src, i) => data.set(images.subarray(src * per, (src + 1) * per), i * per));
        const dataset = join(dir, `${name}.zarr`);
        await createGroup(dataset, "", 3, { resolution: S });
        await writeFloatArray(dataset, `images/${S}`, data, [n, S, S, C]);
        const { stats } = await run(
          realStatsStage as StageDef,
          { count, downloadInception: false },
          { dataset },
          join(dir, name),
        );
        return (await readRealStats(stats)).reals2.swdAverage;
      };
      const shuffled = [...order];
      new Rng(5).shuffle(shuffled);
      const inOrder = await reals2(sorted, "sorted");
      const mixed = await reals2(shuffled, "shuffled");
      // The scale: the two classes against each other.
      const classSet = (k: number) => {
        const idx = order.filter((i) => label[i] === k).slice(0, count);
        const data = new Float32Array(count * per);
        idx.forEach((src, i) => data.set(images.subarray(src * per, (src + 1) * per), i * per));
        return { data, n: count, h: S, w: S, c: C };
      };
      const between =
        (await slicedWassersteinDistance(classSet(0), classSet(1), { seed: 4 })).average;
      assert(
        Math.abs(inOrder - mixed) < 0.1 * between,
        `sorted ${inOrder}, shuffled ${mixed}, class vs class ${between}`,
      );
      assert(inOrder < 0.3 * between, `sorted ${inOrder} vs class vs class ${between}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
