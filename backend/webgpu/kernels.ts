/**
 * WGSL kernels for the ops ganflow adds on the CPU backends, where one GPU dispatch replaces
 * several tfjs ops (each its own dispatch and intermediate buffer):
 * - the leaky-ReLU gradient from the op's output, dy * (y > 0 ? 1 : alpha): 1 dispatch instead of
 *   4 (greater, ones, fill, where, mul); every lean conv's backward uses it, and onednn's
 *   LeakyRelu gradient (registered globally once onednn has started) runs this kernel;
 * - ProGAN's pixel norm forward (5 ops) and its gradient (about 10), one thread per pixel looping
 *   over the channels, as the JS kernels of backend/ops/pixel_norm.ts do.
 * Programs follow tfjs-backend-webgpu's own (e.g. its unary op program): tfjs adds the bindings
 * (`result`, one array per input name, `uniforms`) and the entry point around `getUserCode()`.
 */
import * as tf from "@tensorflow/tfjs";
import { LEAKY_GRAD } from "../ops/leaky_relu_grad.ts";
import { PIXEL_NORM, PIXEL_NORM_GRAD } from "../ops/pixel_norm.ts";
import { ADAM_KERNEL } from "../onednn/adam_kernel.ts";

interface Uniform {
  type: "float32" | "int32";
  data: number[];
}

/** The part of tfjs-backend-webgpu's backend the kernels call (not in its public types). */
interface WebGpuRunner {
  runWebGPUProgram(
    program: object,
    inputs: tf.TensorInfo[],
    dtype: tf.DataType,
    uniforms?: Uniform[],
  ): tf.TensorInfo;
}

const WORKGROUP = 128;

/** A program over `threads` flat invocations (tfjs splits the dispatch where it is too large). */
function program(
  key: string,
  variableNames: string[],
  outputShape: number[],
  threads: number,
  uniforms: string,
  body: string,
  size = false,
) {
  return {
    variableNames,
    outputShape,
    shaderKey: key,
    size,
    uniforms,
    workgroupSize: [WORKGROUP, 1, 1],
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [Math.ceil(threads / WORKGROUP), 1, 1],
    getUserCode: () => `fn main(index : i32) {\n${body}\n}`,
  };
}

function leakyGrad(y: tf.TensorInfo) {
  const n = tf.util.sizeFromShape(y.shape);
  return program(
    "ganflow_leaky_grad",
    ["dy", "y"],
    [...y.shape],
    n,
    "alpha : f32,",
    `  if (index < uniforms.size) {
    let g = dy[index];
    setOutputAtIndex(index, select(g * uniforms.alpha, g, y[index] > 0.0));
  }`,
    true,
  );
}

/** Per pixel (row of `channels`): y = x r, r = 1 / sqrt(mean(x²) + eps). */
function pixelNormForward(x: tf.TensorInfo, rows: number) {
  return program(
    "ganflow_pixel_norm",
    ["x"],
    [...x.shape],
    rows,
    "rows : i32, channels : i32, eps : f32,",
    `  if (index < uniforms.rows) {
    let c = uniforms.channels;
    let o = index * c;
    var s = 0.0;
    for (var k = 0; k < c; k++) { s += x[o + k] * x[o + k]; }
    let r = 1.0 / sqrt(s / f32(c) + uniforms.eps);
    for (var k = 0; k < c; k++) { setOutputAtIndex(o + k, x[o + k] * r); }
  }`,
  );
}

/** dx = r dy - (r³ / c) x (x · dy) per pixel. */
function pixelNormBackward(x: tf.TensorInfo, rows: number) {
  return program(
    "ganflow_pixel_norm_grad",
    ["dy", "x"],
    [...x.shape],
    rows,
    "rows : i32, channels : i32, eps : f32,",
    `  if (index < uniforms.rows) {
    let c = uniforms.channels;
    let o = index * c;
    var s = 0.0;
    var d = 0.0;
    for (var k = 0; k < c; k++) {
      s += x[o + k] * x[o + k];
      d += x[o + k] * dy[o + k];
    }
    let r = 1.0 / sqrt(s / f32(c) + uniforms.eps);
    let f = r * r * r * d / f32(c);
    for (var k = 0; k < c; k++) { setOutputAtIndex(o + k, r * dy[o + k] - f * x[o + k]); }
  }`,
  );
}

/**
 * One output of the fused Adam update (`which`: the parameter, the first or the second moment),
 * each recomputing the moments it needs from param, grad, m and v: 3 dispatches per variable
 * instead of about 13 tfjs ops. Same formulas and order as train/adam.ts's op-by-op update:
 * m1 = b1 m + (1 - b1) g, v1 = b2 v + (1 - b2) g², p1 = p - (m1 lr/c1) / (sqrt(v1 / c2) + eps)
 * (1 - b1, 1 - b2 and lr/c1 computed in double precision on the host, as the op-by-op update).
 */
function adamOutput(p: tf.TensorInfo, which: "param" | "m" | "v") {
  // Each program binds only the inputs its shader reads (WebGPU drops unused bindings).
  const m1 = "let m1 = m[index] * uniforms.beta1 + grad[index] * uniforms.nb1;";
  const v1 = "let v1 = v[index] * uniforms.beta2 + (grad[index] * grad[index]) * uniforms.nb2;";
  const spec = {
    m: { inputs: ["grad", "m"], code: `${m1}\n    setOutputAtIndex(index, m1);` },
    v: { inputs: ["grad", "v"], code: `${v1}\n    setOutputAtIndex(index, v1);` },
    param: {
      inputs: ["param", "grad", "m", "v"],
      code: `${m1}\n    ${v1}\n    setOutputAtIndex(index, param[index] - ` +
        "(m1 * uniforms.lrc1) / (sqrt(v1 / uniforms.c2) + uniforms.eps));",
    },
  }[which];
  return {
    inputs: spec.inputs,
    program: program(
      `ganflow_adam_${which}`,
      spec.inputs,
      [...p.shape],
      tf.util.sizeFromShape(p.shape),
      "beta1 : f32, nb1 : f32, beta2 : f32, nb2 : f32, lrc1 : f32, c2 : f32, eps : f32,",
      `  if (index < uniforms.size) {\n    ${spec.code}\n  }`,
      true,
    ),
  };
}

const float32 = (t: tf.TensorInfo, what: string) => {
  if (t.dtype !== "float32") throw new Error(`${what}: float32 input expected, got ${t.dtype}`);
};

/** Registers the kernels on the webgpu backend (idempotent). */
export function registerWebGpuKernels(backendName = "webgpu"): void {
  if (tf.getKernel(PIXEL_NORM, backendName)) return;
  tf.registerKernel({
    kernelName: LEAKY_GRAD,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
      float32(x, LEAKY_GRAD);
      const alpha = (attrs as unknown as { alpha: number }).alpha;
      return (backend as unknown as WebGpuRunner).runWebGPUProgram(
        leakyGrad(x),
        [dy, x],
        "float32",
        [{ type: "float32", data: [alpha] }],
      );
    },
  });
  const rowUniforms = (x: tf.TensorInfo, eps: number): Uniform[] => {
    const c = x.shape[x.shape.length - 1];
    return [
      { type: "int32", data: [tf.util.sizeFromShape(x.shape) / c] },
      { type: "int32", data: [c] },
      { type: "float32", data: [eps] },
    ];
  };
  tf.registerKernel({
    kernelName: ADAM_KERNEL,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { param, grad, m, v } = inputs as Record<string, tf.TensorInfo>;
      float32(param, ADAM_KERNEL);
      const a = attrs as unknown as Record<"lr" | "beta1" | "beta2" | "eps" | "c1" | "c2", number>;
      // 1 - beta and lr / c1 in double precision, as the op-by-op update computes them.
      const values = [a.beta1, 1 - a.beta1, a.beta2, 1 - a.beta2, a.lr / a.c1, a.c2, a.eps];
      const uniforms: Uniform[] = values.map((x) => ({
        type: "float32",
        data: [x],
      }));
      const run = backend as unknown as WebGpuRunner;
      const byName: Record<string, tf.TensorInfo> = { param, grad, m, v };
      return (["param", "m", "v"] as const).map((which) => {
        const o = adamOutput(param, which);
        return run.runWebGPUProgram(o.program, o.inputs.map((n) => byName[n]), "float32", uniforms);
      });
    },
  });
  tf.registerKernel({
    kernelName: PIXEL_NORM,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x } = inputs as { x: tf.TensorInfo };
      float32(x, PIXEL_NORM);
      const u = rowUniforms(x, (attrs as { eps: number }).eps);
      return (backend as unknown as WebGpuRunner).runWebGPUProgram(
        pixelNormForward(x, u[0].data[0]),
        [x],
        "float32",
        u,
      );
    },
  });
  tf.registerKernel({
    kernelName: PIXEL_NORM_GRAD,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
      float32(x, PIXEL_NORM_GRAD);
      const u = rowUniforms(x, (attrs as { eps: number }).eps);
      return (backend as unknown as WebGpuRunner).runWebGPUProgram(
        pixelNormBackward(x, u[0].data[0]),
        [dy, x],
        "float32",
        u,
      );
    },
  });
}
