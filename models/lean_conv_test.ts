import * as tf from "@tensorflow/tfjs";
import { assert, assertAllClose, assertEquals, assertThrows } from "../tests/assert.ts";
import { initBackend } from "../backend/mod.ts";
import { hasOneDnn, testBackends } from "../backend/onednn/test_gate.ts";
import { PHASE_INTERLEAVE, setPhaseConvs } from "../backend/ops/phase_conv.ts";
import { Rng } from "../nn/rng.ts";
import { leanConv } from "./lean_conv.ts";

const rng = new Rng(3);
const rand = (shape: number[]) =>
  tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape);

/** The same layer as separate tfjs ops: the reference. */
function plain(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  b: tf.Tensor | undefined,
  stride: number,
  slope?: number,
) {
  let y: tf.Tensor = tf.conv2d(x, w, stride, "same");
  if (b) y = tf.add(y, b);
  return slope === undefined ? y : tf.leakyRelu(y, slope);
}

for (const backend of ["cpu", "onednn"] as const) {
  Deno.test({
    name:
      `${backend}: leanConv matches (upsample +) conv + bias + leaky ReLU, values and gradients`,
    ignore: backend === "onednn" && !hasOneDnn,
    fn: async () => {
      await initBackend(backend);
      const cases: [number, boolean, number | undefined, boolean][] = [
        [1, true, 0.2, false],
        [2, true, 0.2, false],
        [1, false, undefined, false],
        [2, true, 0, false],
        [1, true, 0.2, true],
        [1, false, undefined, true],
      ];
      for (const [stride, withBias, slope, upsample] of cases) {
        // Upsampling cases start at 4x4, so every case's conv runs at 8x8.
        const x = rand([2, upsample ? 4 : 8, upsample ? 4 : 8, 5]) as tf.Tensor4D;
        const w = rand([3, 3, 5, 6]) as tf.Tensor4D;
        const b = withBias ? rand([6]) : undefined;
        const dy = rand([2, 8 / stride, 8 / stride, 6]);
        const args = b ? [x, w, b] : [x, w];
        const lean = (...t: tf.Tensor[]) =>
          leanConv(t[0] as tf.Tensor4D, t[1] as tf.Tensor4D, {
            stride,
            bias: t[2],
            slope,
            upsample,
          });
        const ref = (...t: tf.Tensor[]) => {
          const a = t[0] as tf.Tensor4D;
          const input = upsample ? tf.image.resizeNearestNeighbor(a, [8, 8]) : a;
          return plain(input, t[1] as tf.Tensor4D, t[2], stride, slope);
        };
        const label = `stride ${stride} bias ${withBias} slope ${slope} upsample ${upsample}`;
        assertAllClose(lean(...args).dataSync(), ref(...args).dataSync(), {
          atol: 1e-5,
          msg: label,
        });
        const gl = tf.grads(lean)(args, dy), gr = tf.grads(ref)(args, dy);
        gl.forEach((g, i) =>
          assertAllClose(g.dataSync(), gr[i].dataSync(), { atol: 1e-4, msg: `${label} grad ${i}` })
        );
        tf.dispose([x, w, dy, ...(b ? [b] : []), ...gl, ...gr]);
      }
    },
  });
}

for (const upsample of [false, true]) {
  Deno.test(`leanConv${upsample ? " (phase form)" : ""}: no input-gradient conv for an input nothing differentiates`, async () => {
    await initBackend("cpu");
    const x = rand([2, 4, 4, 3]) as tf.Tensor4D, w = tf.variable(rand([3, 3, 3, 4]));
    const scale = tf.variable(tf.scalar(1.5));
    const loss = (input: () => tf.Tensor4D) => () =>
      tf.sum(leanConv(input(), w as tf.Tensor4D, { stride: 1, slope: 0.2, upsample })) as tf.Scalar;
    const kernels = async (f: () => void) =>
      (await tf.profile(f)).kernels.map((k) => k.name).filter((n) => n.startsWith("Conv2D"));
    // A data batch (a D's real images): only the filter's gradient is computed...
    let dw: tf.Tensor | null = null;
    const data = await kernels(() => {
      dw = tf.variableGrads(loss(() => x), [w]).grads[w.name];
    });
    assertEquals(data, ["Conv2DBackpropFilter"]);
    const ref = tf.grads((xx: tf.Tensor, ww: tf.Tensor) =>
      tf.sum(
        plain(
          upsample ? tf.image.resizeNearestNeighbor(xx as tf.Tensor4D, [8, 8]) : xx as tf.Tensor4D,
          ww as tf.Tensor4D,
          undefined,
          1,
          0.2,
        ),
      )
    )([x, w]);
    assertAllClose(dw!.dataSync(), ref[1].dataSync(), { atol: 1e-4 });
    // ...an input made by a recorded op from what is differentiated gets its gradient.
    let dScale: tf.Tensor | null = null;
    const made = await kernels(() => {
      dScale = tf.variableGrads(loss(() => tf.mul(x, scale)), [scale]).grads[scale.name];
    });
    assertEquals(made.sort(), ["Conv2DBackpropFilter", "Conv2DBackpropInput"]);
    // d/ds sum(f(s x)) = <f'(s x), x>: against central differences of the plain layer.
    const at = (s: number) =>
      tf.sum(
        plain(
          upsample
            ? tf.image.resizeNearestNeighbor(tf.mul(x, s) as tf.Tensor4D, [8, 8])
            : tf.mul(x, s) as tf.Tensor4D,
          w as tf.Tensor4D,
          undefined,
          1,
          0.2,
        ),
      ).dataSync()[0];
    const h = 1e-2;
    assertAllClose([dScale!.dataSync()[0]], [(at(1.5 + h) - at(1.5 - h)) / (2 * h)], {
      rtol: 1e-2,
    });
    tf.dispose([x, w, scale, dw!, dScale!, ...ref]);
  });
}

Deno.test("leanConv keeps one new buffer (its output) from forward to backward, two when upsampling (and the phase filters); separate ops keep three", async () => {
  await initBackend("cpu");
  const x = rand([2, 8, 8, 4]) as tf.Tensor4D, w = rand([3, 3, 4, 4]) as tf.Tensor4D, b = rand([4]);
  // Distinct buffers alive when forward ends, inside a gradient tape.
  const kept = (f: (...t: tf.Tensor[]) => tf.Tensor) => {
    const before = tf.memory().numDataBuffers;
    let n = 0;
    tf.grads((...t: tf.Tensor[]) => {
      const y = f(...t);
      n = tf.memory().numDataBuffers - before;
      return y;
    })([x, w, b]).forEach((g) => g.dispose());
    return n;
  };
  assertEquals(
    kept((a, c, d) =>
      leanConv(a as tf.Tensor4D, c as tf.Tensor4D, { stride: 1, bias: d, slope: 0.2 })
    ),
    1,
  );
  // The raw conv output (saved by Add for its shapes), the pre-activation, the output.
  assert(kept((a, c, d) => plain(a as tf.Tensor4D, c as tf.Tensor4D, d, 1, 0.2)) >= 3);
  // Upsampling, as phase convs: the output and the 2x2 phase filters (not the 4x larger
  // upsampled input, nor the phase conv's raw output).
  const up = { stride: 1, slope: 0.2, upsample: true };
  assertEquals(
    kept((a, c, d) => leanConv(a as tf.Tensor4D, c as tf.Tensor4D, { ...up, bias: d })),
    2,
  );
  assertThrows(() => leanConv(x, w, { stride: 1, slope: -1 }), "slope");
  tf.dispose([x, w, b]);
});

for (const backend of testBackends) {
  Deno.test(`${backend}: an upsampling leanConv runs as phase convs and matches upsample + conv, on odd shapes`, async () => {
    await initBackend(backend);
    // [n, h, w, cin, cout]: batch > 1, cin != cout, h != w, 1x1 and 4x4 inputs.
    const shapes = [[2, 1, 1, 3, 4], [3, 4, 4, 6, 5], [2, 3, 5, 4, 2], [2, 12, 9, 5, 40]];
    for (const [n, h, w, ci, co] of shapes) {
      for (const [withBias, slope] of [[true, 0.2], [false, undefined], [true, 0]] as const) {
        const x = rand([n, h, w, ci]) as tf.Tensor4D;
        const f = rand([3, 3, ci, co]) as tf.Tensor4D;
        const b = withBias ? rand([co]) : undefined;
        const dy = rand([n, 2 * h, 2 * w, co]);
        const args = b ? [x, f, b] : [x, f];
        const lean = (...t: tf.Tensor[]) =>
          leanConv(t[0] as tf.Tensor4D, t[1] as tf.Tensor4D, {
            stride: 1,
            bias: t[2],
            slope,
            upsample: true,
          });
        const ref = (...t: tf.Tensor[]) => {
          const a = t[0] as tf.Tensor4D;
          const up = tf.image.resizeNearestNeighbor(a, [2 * h, 2 * w]);
          return plain(up, t[1] as tf.Tensor4D, t[2], 1, slope);
        };
        const label = `[${n},${h},${w},${ci}]->${co} bias ${withBias} slope ${slope}`;
        const kernels = (await tf.profile(() => {
          const gl = tf.grads(lean)(args, dy);
          const gr = tf.grads(ref)(args, dy);
          const yl = lean(...args), yr = ref(...args);
          const scale = Math.max(...(yr.abs().max().dataSync() as Float32Array));
          assertAllClose(yl.dataSync(), yr.dataSync(), { atol: 1e-5 * scale, msg: label });
          gl.forEach((g, i) => {
            const s = Math.max(...(gr[i].abs().max().dataSync() as Float32Array));
            assertAllClose(g.dataSync(), gr[i].dataSync(), {
              atol: 1e-5 * s,
              msg: `${label} grad ${i}`,
            });
          });
          tf.dispose([...gl, ...gr, yl, yr]);
        })).kernelNames;
        assert(kernels.includes(PHASE_INTERLEAVE), `${label}: phase convs ran`);
        tf.dispose([x, f, dy, ...(b ? [b] : [])]);
      }
    }
  });
}

Deno.test("setPhaseConvs(false) gives the plain upsample + conv", async () => {
  await initBackend("cpu");
  const x = rand([2, 3, 3, 2]) as tf.Tensor4D, f = rand([3, 3, 2, 3]) as tf.Tensor4D;
  const run = () => tf.profile(() => void leanConv(x, f, { stride: 1, upsample: true }).dispose());
  const previous = setPhaseConvs(false);
  try {
    const names = (await run()).kernelNames;
    assert(names.includes("ResizeNearestNeighbor") && !names.includes(PHASE_INTERLEAVE));
  } finally {
    setPhaseConvs(previous);
  }
  assert((await run()).kernelNames.includes(PHASE_INTERLEAVE));
  tf.dispose([x, f]);
});
