/**
 * Stage `evaluate`: SWD of generated vs real images (ProGAN's metric), next to the real-vs-real
 * "Reals2" baseline (two disjoint halves of the real set), written to metrics.json.
 */
import { z } from "zod";
import { defineStage } from "../pipeline/stage.ts";
import { readFloatArray } from "../data/zarr_batches.ts";
import { readAttributes } from "../data/zarr_io.ts";
import { type ImageSet, slicedWassersteinDistance } from "../metrics/swd.ts";
import { msSsimConsecutivePairs } from "../metrics/ms_ssim.ts";
import { startBackend } from "./common.ts";

export const evaluateStage = defineStage({
  name: "evaluate",
  module: import.meta.url,
  params: z.object({
    count: z.number().int().min(16).default(1000),
    seed: z.number().int().default(4),
  }),
  inputs: { samples: "sample.samples", dataset: "prepare.dataset" },
  outputs: { metrics: "metrics.json" },
  uses: ["backend"],
  async run(ctx) {
    await startBackend(ctx);
    const res = (await readAttributes(ctx.inputs.dataset, "")).resolution as number;
    const real = await readFloatArray(ctx.inputs.dataset, `images/${res}`);
    const fake = await readFloatArray(ctx.inputs.samples, "images");
    const per = res * res * 3;
    const n = Math.min(ctx.params.count, fake.shape[0], Math.floor(real.shape[0] / 2));
    const set = (data: Float32Array, start: number, toByteRange: boolean): ImageSet => {
      const out = new Float32Array(n * per);
      for (let i = 0; i < out.length; i++) {
        const v = data[start * per + i];
        out[i] = toByteRange ? (v + 1) * 127.5 : v;
      }
      return { data: out, n, h: res, w: res, c: 3 };
    };
    ctx.progress(0, 3, "SWD model vs real");
    const realA = set(real.data, 0, false);
    const fakeSet = set(fake.data, 0, true);
    const model = slicedWassersteinDistance(realA, fakeSet, {
      seed: ctx.params.seed,
    });
    ctx.progress(1, 3, "SWD real vs real");
    const reals2 = slicedWassersteinDistance(realA, set(real.data, n, false), {
      seed: ctx.params.seed,
    });
    ctx.progress(2, 3, "MS-SSIM");
    // ProGAN's diversity score: MS-SSIM of consecutive pairs (lower = more diverse).
    const msModel = msSsimConsecutivePairs(fakeSet);
    const msReal = msSsimConsecutivePairs(realA);
    ctx.progress(3, 3);
    const metrics = {
      images: n,
      resolution: res,
      swd: Object.fromEntries(model.levels.map((l) => [String(l.resolution), l.swd])),
      swdAverage: model.average,
      msSsim: msModel,
      reals2: {
        msSsim: msReal,
        swd: Object.fromEntries(reals2.levels.map((l) => [String(l.resolution), l.swd])),
        swdAverage: reals2.average,
      },
      notes: [
        "FID/KID need the pt_inception-2015-12-05 weights, which cannot be downloaded here; not computed.",
      ],
    };
    await Deno.writeTextFile(ctx.outputs.metrics, JSON.stringify(metrics, null, 2));
    ctx.log(
      `SWD x1e3: model ${model.average.toFixed(2)}, real-vs-real ${reals2.average.toFixed(2)}`,
    );
    return { swd: model.average, reals2Swd: reals2.average, msSsim: msModel, reals2MsSsim: msReal };
  },
});
