/**
 * The resize gradients (ResizeNearestNeighborGrad, ResizeBilinearGrad) on every JS-array backend,
 * checked without comparing a kernel against itself:
 * - the adjoint identity <resize(x), dy> = <x, resizeGrad(dy)>, in float64 on the host, with
 *   resize(x) from tfjs's own cpu forward kernels (which ganflow does not replace), for every
 *   alignCorners / halfPixelCenters mode, non-integer factors up and down, batch and channels > 1,
 *   and integer factors large enough for onednn's oneDNN gradient;
 * - PyTorch forward and gradient for the modes PyTorch shares with tfjs
 *   (tests/fixtures/backend/make_resize_grad.py says which).
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertAllClose } from "../tests/assert.ts";
import { initBackend } from "./mod.ts";
import { hasOneDnn } from "./onednn/test_gate.ts";
import { MIN_ELEMENTS, opPrimitiveCount } from "./onednn/eltwise_primitives.ts";
import { Rng } from "../nn/rng.ts";

const backends = hasOneDnn ? ["onednn", "cpu"] : ["cpu"];
type Op = "nearest" | "bilinear";
const GRAD_KERNEL: Record<Op, string> = {
  nearest: "ResizeNearestNeighborGrad",
  bilinear: "ResizeBilinearGrad",
};

async function on(backend: string) {
  await initBackend(backend as "cpu" | "onednn");
  assert(tf.getBackend() === backend, `backend ${tf.getBackend()} != ${backend}`);
}

interface Mode {
  alignCorners: boolean;
  halfPixelCenters: boolean;
}

function resize(op: Op, x: tf.Tensor4D, size: [number, number], m: Mode): tf.Tensor4D {
  return op === "nearest"
    ? tf.image.resizeNearestNeighbor(x, size, m.alignCorners, m.halfPixelCenters)
    : tf.image.resizeBilinear(x, size, m.alignCorners, m.halfPixelCenters);
}

/** The gradient kernel alone, run on the current backend. */
function resizeGrad(op: Op, shape: number[], dy: Float32Array, size: number[], m: Mode) {
  return tf.tidy(() => {
    const images = tf.zeros(shape);
    const dyt = tf.tensor4d(dy, [shape[0], size[0], size[1], shape[3]]);
    const g = tf.engine().runKernel(GRAD_KERNEL[op], { images, dy: dyt }, { ...m }) as tf.Tensor;
    assert(g.shape.join() === shape.join(), `${op} gradient shape ${g.shape} != ${shape}`);
    return g.dataSync() as Float32Array;
  });
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): { value: number; scale: number } {
  let value = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    value += a[i] * b[i];
    scale += Math.abs(a[i] * b[i]);
  }
  return { value, scale };
}

const MODES: [string, Mode][] = [
  ["asymmetric", { alignCorners: false, halfPixelCenters: false }],
  ["half-pixel", { alignCorners: false, halfPixelCenters: true }],
  ["align-corners", { alignCorners: true, halfPixelCenters: false }],
];
/** [input shape, output size, whether nearest's gradient runs on oneDNN for the mode]. */
const SHAPES: [number[], [number, number], (m: Mode) => boolean][] = [
  [[2, 5, 7, 3], [9, 12], () => false], // up x1.8, x1.71
  [[3, 9, 11, 4], [5, 4], () => false], // down x0.56, x0.36
  [[2, 6, 9, 2], [10, 5], () => false], // up in height, down in width
  [[2, 4, 5, 3], [1, 3], () => false], // one output row (alignCorners falls back to in / out)
  [[2, 12, 16, 40], [36, 32], (m) => !m.alignCorners], // x3, x2: oneDNN reorders
];
const PROBES = 3;

// x and dy for every case, drawn once.
const rng = new Rng(23);
const adjointCases = SHAPES.flatMap(([shape, size, oneDnnGrad]) =>
  MODES.flatMap(([modeName, mode]) =>
    (["nearest", "bilinear"] as Op[]).map((op) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const dy = rng.uniformArray(shape[0] * size[0] * size[1] * shape[3], -1, 1);
      const xs = Array.from({ length: PROBES }, () => rng.uniformArray(n, -1, 1));
      return {
        label: `${op} ${modeName} ${shape} -> ${size}`,
        op,
        mode,
        shape,
        size,
        dy,
        xs,
        oneDnn: op === "nearest" && oneDnnGrad(mode) && dy.length >= MIN_ELEMENTS,
        ys: [] as Float32Array[],
      };
    })
  )
);

/** resize(x) for every case and probe by tfjs's own cpu forward kernels (computed once). */
async function cpuForward() {
  if (adjointCases[0].ys.length === PROBES) return;
  await on("cpu");
  for (const c of adjointCases) {
    c.ys = c.xs.map((x) =>
      tf.tidy(() =>
        resize(c.op, tf.tensor4d(x, c.shape as never), c.size, c.mode).dataSync() as Float32Array
      )
    );
  }
}

for (const backend of backends) {
  Deno.test(`${backend}: resize gradients are the adjoints of tfjs's forward resize (all modes, up and down, batch > 1)`, async () => {
    await cpuForward();
    await on(backend);
    let oneDnnRuns = 0;
    const oneDnnShapes = new Set<string>();
    for (const c of adjointCases) {
      const before = opPrimitiveCount();
      const g = resizeGrad(c.op, c.shape, c.dy, c.size, c.mode);
      if (c.oneDnn && backend === "onednn") {
        // A shape's first gradient builds its reorders (cached per shape, whatever the mode):
        // proof the oneDNN path ran, not the JS fallback.
        const key = `${c.shape} -> ${c.size}`;
        if (!oneDnnShapes.has(key)) {
          assert(opPrimitiveCount() > before, `${c.label}: oneDNN gradient did not run`);
        }
        oneDnnShapes.add(key);
        oneDnnRuns++;
      }
      for (let k = 0; k < PROBES; k++) {
        const lhs = dot(c.ys[k], c.dy), rhs = dot(c.xs[k], g);
        // float32 inputs, float32 sums of at most a few dozen terms per gradient element.
        const tol = 1e-6 * Math.max(lhs.scale, rhs.scale);
        assert(
          Math.abs(lhs.value - rhs.value) <= tol,
          `${backend} ${c.label} probe ${k}: <resize(x), dy> = ${lhs.value} but ` +
            `<x, grad(dy)> = ${rhs.value} (tolerance ${tol.toExponential(2)})`,
        );
      }
    }
    if (backend === "onednn") assert(oneDnnRuns === 2, `oneDNN gradient cases: ${oneDnnRuns}`);
  });
}

interface TorchCase extends Mode {
  name: string;
  op: Op;
  torch: string;
  size: [number, number];
  x: number[];
  xShape: [number, number, number, number];
  y: number[];
  dy: number[];
  dx: number[];
}

const fixture = JSON.parse(
  await Deno.readTextFile(new URL("../tests/fixtures/backend/resize_grad.json", import.meta.url)),
) as { cases: TorchCase[] };

for (const backend of backends) {
  Deno.test(`${backend}: resize forward and gradient match torch where torch has the mode (nearest, nearest-exact, bilinear both align_corners)`, async () => {
    await on(backend);
    assert(fixture.cases.length === 8, `${fixture.cases.length} torch cases`);
    for (const c of fixture.cases) {
      const label = `${backend} ${c.name} (torch ${c.torch})`;
      const x = tf.tensor4d(c.x, c.xShape);
      const dy = tf.tensor(c.dy, [c.xShape[0], ...c.size, c.xShape[3]]);
      const f = (a: tf.Tensor) => resize(c.op, a as tf.Tensor4D, c.size, c);
      assertAllClose(f(x).dataSync(), c.y, { rtol: 1e-5, atol: 1e-6, msg: `${label} forward` });
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f(a), dy)))(x);
      assertAllClose(g.dataSync(), c.dx, { rtol: 1e-5, atol: 1e-5, msg: `${label} gradient` });
      tf.dispose([x, dy, g]);
    }
  });
}
