/**
 * `real-stats` and `evaluate` called directly on a hand-made dataset, with the Inception fixture
 * weights: the real sets are the documented image ranges, samples identical to set A score FID
 * ~0, fewer samples than real-stats' count use prefixes of both sets (Reals2 recomputed there),
 * and weights changed under a finished real-stats are refused.
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
import { readRealStats, realStatsStage } from "../../stages/real_stats.ts";
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
    "real-stats + evaluate: set ranges, FID ~0 for samples equal to set A, prefixes, weights check",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ganflow-real-stats-" });
    try {
      const real = images(N, 3);
      const dataset = join(dir, "dataset.zarr");
      await createGroup(dataset, "", 3, { resolution: S });
      await writeFloatArray(dataset, `images/${S}`, real, [N, S, S, C]);
      const per = S * S * C;
      const range = (start: number, n: number) => real.slice(start * per, (start + n) * per);

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
      // Features of A = images [0, 8) and B = [8, 16), taken here from the images themselves.
      const { net } = await loadInception(WEIGHTS);
      const feats = (x: Float32Array, n: number) =>
        extractFeatures(net, x.map((v) => v / 127.5 - 1), [n, S, S, C], { batch: 8 });
      const fA = feats(range(0, COUNT), COUNT), fB = feats(range(COUNT, COUNT), COUNT);
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
      const same = await samples(join(dir, "same"), range(0, COUNT), COUNT);
      const m1 = await evaluate(same, "ev1");
      assert(Math.abs(m1.fid) < 1e-3 * m1.reals2.fid, `FID ${m1.fid} vs Reals2 ${m1.reals2.fid}`);
      assertEquals(m1.reals2.fid, stats.reals2.fid);
      assertEquals(m1.images, COUNT);

      // 4 samples: A and B become images [0, 4) and [8, 12); Reals2 is recomputed at 4.
      const few = await samples(join(dir, "few"), range(2 * COUNT, FEW), FEW);
      const m2 = await evaluate(few, "ev2");
      assertEquals(m2.images, FEW);
      assert(m2.notes.some((t: string) => t.includes(`Reals2 recomputed at ${FEW}`)), m2.notes);
      const head = (f: Float32Array) => f.subarray(0, FEW * FEATURE_DIM);
      const fFew = feats(range(2 * COUNT, FEW), FEW);
      assertAlmostEquals(m2.reals2.fid, fidFromFeatures(head(fB), FEW, head(fA), FEW, 2048), 1e-9);
      assertAlmostEquals(m2.fid, fidFromFeatures(fFew, FEW, head(fA), FEW, FEATURE_DIM), 1e-9);
      const set = (start: number) => ({ data: range(start, FEW), n: FEW, h: S, w: S, c: C });
      const swd = slicedWassersteinDistance(set(0), set(COUNT), { seed: stats.seed });
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
