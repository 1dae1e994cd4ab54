/**
 * The compiled conv chain against tfjs's cpu kernels (nearest resize, then a same-padded conv,
 * bias and leaky ReLU as separate ops: an implementation that shares no code with the oneDNN
 * primitives, the phase filters or the interleaving copy), and the phase filters against a
 * hand-computed case.
 */
import * as tf from "@tensorflow/tfjs";
import { assertAllClose, assertEquals, assertThrows } from "../../tests/assert.ts";
import { initBackend } from "../mod.ts";
import { loadOneDnn } from "../onednn/ffi.ts";
import { hasOneDnn } from "../onednn/test_gate.ts";
import { type ChainConv, upsampledPhases } from "./conv_chain.ts";
import { ChainRunner, compileConvChain } from "./chain_runner.ts";
import { Rng } from "../../nn/rng.ts";

function layer(rng: Rng, k: number, cin: number, cout: number, up: boolean, alpha: number | null) {
  return {
    filter: {
      shape: [k, k, cin, cout],
      data: rng.normalArray(k * k * cin * cout).map((v) => v / Math.sqrt(k * k * cin)),
    },
    bias: rng.normalArray(cout).map((v) => 0.3 * v),
    upsample: up,
    alpha,
  } satisfies ChainConv;
}

/** Op by op on the cpu backend: resize, conv, add, leaky ReLU. */
async function reference(
  layers: ChainConv[],
  x: Float32Array,
  shape: [number, number, number, number],
) {
  const prev = tf.getBackend();
  await initBackend("cpu");
  const out = tf.tidy(() => {
    let h = tf.tensor4d(x, shape);
    for (const l of layers) {
      if (l.upsample) h = tf.image.resizeNearestNeighbor(h, [2 * h.shape[1], 2 * h.shape[2]]);
      const f = tf.tensor4d(l.filter.data, l.filter.shape as [number, number, number, number]);
      h = tf.add(tf.conv2d(h, f, 1, "same"), tf.tensor1d(l.bias));
      if (l.alpha !== null) h = tf.leakyRelu(h, l.alpha);
    }
    return h.dataSync() as Float32Array;
  });
  await initBackend(prev as "onednn" | "cpu");
  return out;
}

// A decoder-like chain: odd channel counts (3, 5, 17, 33 are no vector width), upsamplings of
// 3x3, 5x5 and 1x1 convs, ReLU, leaky ReLU and a linear output.
function decoderLike(rng: Rng): ChainConv[] {
  return [
    layer(rng, 3, 4, 33, false, 0.2),
    layer(rng, 3, 33, 17, true, 0.2),
    layer(rng, 5, 17, 5, false, 0),
    layer(rng, 5, 5, 6, true, 0.2),
    layer(rng, 1, 6, 7, true, 0.2),
    layer(rng, 3, 7, 3, false, null),
  ];
}

for (const backend of ["cpu", "onednn"] as const) {
  Deno.test({
    name: `conv chain on ${backend} equals resize + conv + bias + activation op by op`,
    ignore: backend === "onednn" && !hasOneDnn,
    async fn() {
      await initBackend(backend);
      const rng = new Rng(5);
      const layers = decoderLike(rng);
      for (const shape of [[1, 5, 6, 4], [3, 4, 4, 4]] as [number, number, number, number][]) {
        const x = rng.normalArray(shape.reduce((a, b) => a * b));
        const chain = compileConvChain(layers, shape);
        assertEquals(chain.outShape, [shape[0], shape[1] * 8, shape[2] * 8, 3]);
        const want = await reference(layers, x, shape);
        assertAllClose(chain.run(x), want, { rtol: 1e-4, atol: 1e-5 });
        // Runs again into a given buffer, with the same result (nothing left over from before).
        const out = new Float32Array(want.length);
        assertAllClose(chain.run(x, out), want, { rtol: 1e-4, atol: 1e-5 });
        chain.dispose();
      }
    },
  });
}

Deno.test({
  name: "conv chain: the oneDNN chain runs upsampling as phase convs, small layers on one thread",
  ignore: !hasOneDnn,
  async fn() {
    await initBackend("onednn");
    const rng = new Rng(6);
    const omp = loadOneDnn()!.omp;
    const threads = omp?.omp_get_max_threads();
    const chain = compileConvChain(decoderLike(rng), [1, 4, 4, 4]);
    assertEquals(/3 conv \+ 3 upsampling conv as 6 phase convs/.test(chain.engine), true);
    // Layers this small run on one thread (where there are two), and the OpenMP thread count
    // is back where it was after compiling and after running.
    if (omp && threads! > 1) assertEquals(/6 layers on one thread/.test(chain.engine), true);
    chain.run(new Float32Array(64));
    assertEquals(omp?.omp_get_max_threads(), threads);
    chain.dispose();
  },
});

Deno.test("upsampled phases of a 3x3 filter: rows [f0, f1+f2] / [f0+f1, f2], same for columns", () => {
  // One input and one output channel: f[i][j] = 10 i + j (distinct sums).
  const f = {
    shape: [3, 3, 1, 1],
    data: Float32Array.from({ length: 9 }, (_, t) => 10 * Math.floor(t / 3) + (t % 3)),
  };
  const [even, odd] = upsampledPhases(f);
  // Filters [2, 3, 1, 2]: 2 rows, 3 columns, output channel = column parity b.
  assertEquals(even.shape, [2, 3, 1, 2]);
  assertEquals(even.pad, [1, 0, 1, 1]);
  assertEquals(odd.pad, [0, 1, 1, 1]);
  const at = (ph: { data: Float32Array }, row: number, col: number, b: number) =>
    ph.data[(row * 3 + col) * 2 + b];
  const rowSum = (rows: number[], cols: number[]) =>
    rows.reduce((a, i) => a + cols.reduce((s, j) => s + 10 * i + j, 0), 0);
  // Even output rows: tap row 0 (input row i - 1) = f row 0, tap row 1 (row i) = f rows 1 + 2.
  // Even output columns (b = 0): input columns j - 1 <- f column 0, j <- f columns 1 + 2.
  assertEquals(at(even, 0, 0, 0), rowSum([0], [0]));
  assertEquals(at(even, 1, 1, 0), rowSum([1, 2], [1, 2]));
  assertEquals(at(even, 0, 2, 0), 0);
  // Odd output columns (b = 1): input column j <- f columns 0 + 1, j + 1 <- f column 2.
  assertEquals(at(even, 1, 2, 1), rowSum([1, 2], [2]));
  assertEquals(at(even, 0, 0, 1), 0);
  // Odd output rows: tap row 0 (input row i) = f rows 0 + 1, tap row 1 (row i + 1) = f row 2.
  assertEquals(at(odd, 0, 1, 1), rowSum([0, 1], [0, 1]));
  assertEquals(at(odd, 1, 2, 1), rowSum([2], [2]));
  // Each output pixel sees every weight of f exactly once: each (phase, b) slice sums to f.
  for (const ph of [even, odd]) {
    for (const b of [0, 1]) {
      let s = 0;
      for (let t = 0; t < 6; t++) s += ph.data[t * 2 + b];
      assertEquals(s, rowSum([0, 1, 2], [0, 1, 2]));
    }
  }
});

Deno.test("conv chain: layers that do not fit and inputs of the wrong size are refused", async () => {
  await initBackend("cpu");
  const rng = new Rng(7);
  const bad = [layer(rng, 3, 4, 8, false, 0.2), layer(rng, 3, 6, 3, false, null)];
  assertThrows(
    () => compileConvChain(bad, [1, 4, 4, 4]),
    "layer 1 takes 6 channels but gets 8",
  );
  const even = [layer(rng, 2, 4, 3, false, null)];
  assertThrows(() => compileConvChain(even, [1, 4, 4, 4]), "2x2 filter");
  const ok = compileConvChain([layer(rng, 3, 4, 3, true, null)], [1, 4, 4, 4]);
  assertEquals(ok.outShape, [1, 8, 8, 3]);
  ok.dispose();
});

Deno.test({
  name: "conv chain: wrong input sizes are refused on oneDNN",
  ignore: !hasOneDnn,
  async fn() {
    await initBackend("onednn");
    const rng = new Rng(8);
    const chain = compileConvChain([layer(rng, 3, 4, 3, true, null)], [1, 4, 4, 4]);
    assertThrows(() => chain.run(new Float32Array(10)), "input has 10 values, expected 64");
    assertThrows(
      () => chain.run(new Float32Array(64), new Float32Array(5)),
      "output has 5 values, expected 192",
    );
    chain.dispose();
    assertThrows(() => chain.run(new Float32Array(64)), "run after dispose");
  },
});

Deno.test("chain runner runs batches in slices, compiles once per slice shape", async () => {
  await initBackend(hasOneDnn ? "onednn" : "cpu");
  const rng = new Rng(9);
  const layers = [layer(rng, 3, 4, 6, true, 0.2), layer(rng, 3, 6, 3, false, null)];
  // Largest activation per image 6*10*6 floats = 1440 bytes: slices of 2 images in 3000 bytes.
  const runner = new ChainRunner(layers, { cacheBytes: 3000 });
  assertEquals(runner.sliceSize([5, 3, 5, 4]), 2);
  for (const n of [5, 1, 2, 0]) {
    const shape: [number, number, number, number] = [n, 3, 5, 4];
    const x = rng.normalArray(n * 60);
    const y = runner.run(tf.tensor4d(x, shape));
    assertEquals(y.shape, [n, 6, 10, 3]);
    if (n === 0) continue;
    assertAllClose(y.dataSync() as Float32Array, await reference(layers, x, shape), {
      rtol: 1e-4,
      atol: 1e-5,
    });
    y.dispose();
  }
  assertEquals(runner.chainFor([2, 3, 5, 4]), runner.chainFor([2, 3, 5, 4]));
  runner.dispose();
});
