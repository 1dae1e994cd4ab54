/**
 * Reading GPU tensors under Deno: a synchronous read fails at once, naming the tensor and the
 * calling line (tfjs's own path died in "clearRect"); an asynchronous read caches a host copy
 * that synchronous reads then answer from; and work the GPU rejected (a dispatch whose bindings
 * do not match its shader, which WebGPU skips, leaving zeros) makes the next read fail.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertRejects, assertThrows } from "../tests/assert.ts";
import { initBackend } from "./mod.ts";
import { noWebGpu, sayIfIgnored } from "./webgpu/gpu_available.ts";
import { callerOutsideTfjs, GpuSyncReadError, onHost } from "./host_read.ts";

sayIfIgnored("WebGPU host-read tests");
const ignore = noWebGpu !== null;

Deno.test("callerOutsideTfjs names the first frame outside tfjs and host_read.ts", () => {
  const stack = [
    "Error",
    "    at WebGPUBackend.readSync (file:///x/npm/@tensorflow/tfjs-backend-webgpu/dist/a.js:1:1)",
    "    at Object.readSync (file:///repo/backend/host_read.ts:5:5)",
    "    at Tensor.dataSync (file:///x/npm/@tensorflow/tfjs-core/dist/b.js:2:2)",
    "    at toArrays (file:///repo/nn/params.ts:71:59)",
  ].join("\n");
  assertEquals(callerOutsideTfjs(stack), "/repo/nn/params.ts:71:59");
  assertEquals(callerOutsideTfjs("Error\n    at ext:core/01_core.js:1:1"), null);
});

Deno.test({
  name: "webgpu: dataSync of GPU data fails clearly; after an async read it answers from the host",
  ignore,
  async fn() {
    await initBackend("webgpu");
    const x = tf.square(tf.tensor1d([1, 2, 3])); // computed on the GPU: no host copy
    const e = assertThrows(() => x.dataSync(), "read synchronously");
    assert(e instanceof GpuSyncReadError, e.name);
    assert(e.message.includes("shape [3]") && e.message.includes("host_read_test.ts"), e.message);
    const [values] = await onHost([x]);
    assertEquals([...values], [1, 4, 9]);
    assertEquals([...x.dataSync()], [1, 4, 9]); // the host copy
    x.dispose();
  },
});

Deno.test({
  name: "webgpu: a dispatch the GPU rejects makes the next read fail instead of reading zeros",
  ignore,
  async fn() {
    await initBackend("webgpu");
    const a = tf.tensor1d([1, 2, 3]), b = tf.tensor1d([4, 5, 6]);
    // Binds two inputs but reads one: WebGPU drops the unused binding from the shader's layout,
    // the bind group no longer matches, and the dispatch is skipped.
    const bad = {
      variableNames: ["a", "b"],
      outputShape: [3],
      shaderKey: "ganflow_test_bad_bindings",
      size: true,
      workgroupSize: [64, 1, 1],
      dispatchLayout: { x: [0] },
      dispatch: [1, 1, 1],
      getUserCode: () =>
        "fn main(index : i32) { if (index < uniforms.size) { setOutputAtIndex(index, a[index]); } }",
    };
    const backend = tf.backend() as unknown as {
      runWebGPUProgram(p: object, i: tf.TensorInfo[], d: string): tf.TensorInfo;
    };
    const info = backend.runWebGPUProgram(bad, [a, b], "float32");
    const out = tf.engine().makeTensorFromTensorInfo(info);
    await assertRejects(() => onHost([out]), "the GPU rejected work");
    // Reported once: the next read is clean.
    assertEquals([...(await onHost([a]))[0]], [1, 2, 3]);
    tf.dispose([a, b, out]);
  },
});
