import { assertEquals, assertThrows } from "../tests/assert.ts";
import { decodeTensorFile, encodeTensorFile } from "./tensor_file.ts";

Deno.test("tensor file: round trip of float32 and int32 arrays with metadata", () => {
  const file = {
    arrays: {
      "b.w": { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6.5]) },
      "a": { shape: [1], data: Int32Array.of(-7) },
    },
    meta: { step: 3, note: "x" },
  };
  const back = decodeTensorFile(encodeTensorFile(file));
  assertEquals(back.meta, file.meta);
  assertEquals(back.arrays["b.w"].data, file.arrays["b.w"].data);
  assertEquals(back.arrays["a"].data, file.arrays["a"].data);
  assertEquals(back.arrays["b.w"].shape, [2, 3]);
});

Deno.test("tensor file: truncation, bad magic and shape mismatch are errors", () => {
  const bytes = encodeTensorFile({
    arrays: { w: { shape: [4], data: new Float32Array(4) } },
    meta: {},
  });
  assertThrows(() => decodeTensorFile(bytes.subarray(0, bytes.length - 2)), "truncated at w");
  assertThrows(() => decodeTensorFile(new Uint8Array(32)), "bad magic");
  assertThrows(
    () => encodeTensorFile({ arrays: { w: { shape: [3], data: new Float32Array(4) } }, meta: {} }),
    "w has shape [3] but 4 values",
  );
});
