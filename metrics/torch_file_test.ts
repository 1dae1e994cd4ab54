/**
 * The torch.save reader against files written by PyTorch 1.13
 * (tests/fixtures/inception/make_torch_file_fixtures.py): every dtype, views, non-contiguous
 * strides, zip and legacy formats give the values torch itself printed.
 */
import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import { readTorchFile } from "./torch_file.ts";
import { unpickle } from "./torch_pickle.ts";
import { toFloat32, TorchFileError } from "./torch_tensor.ts";

const DIR = new URL("../tests/fixtures/inception/", import.meta.url);
const expected = JSON.parse(await Deno.readTextFile(new URL("tensors.json", DIR))) as Record<
  string,
  Record<string, { shape: number[]; dtype: string; values: (number | string)[] }>
>;

function checkAgainst(file: string, cases: typeof expected[string]) {
  const got = readTorchFile(Deno.readFileSync(new URL(file, DIR)));
  assertEquals([...got.keys()].sort(), Object.keys(cases).sort(), file);
  for (const [name, e] of Object.entries(cases)) {
    const t = got.get(name)!;
    assertEquals(t.shape, e.shape, `${file} ${name} shape`);
    assertEquals(t.dtype, e.dtype, `${file} ${name} dtype`);
    assertEquals(t.data.length, e.values.length, `${file} ${name} length`);
    if (e.dtype === "int64") {
      assert(t.data instanceof BigInt64Array, `${name}: int64 as BigInt64Array`);
      assertEquals([...t.data].map(String), e.values, `${file} ${name}`);
    } else {
      // float32 values are compared exactly (JSON holds the float32 widened to double).
      for (let i = 0; i < e.values.length; i++) {
        assertEquals(Number(t.data[i]), e.values[i] as number, `${file} ${name}[${i}]`);
      }
    }
  }
}

Deno.test("torch_file: zip format, every dtype, views and non-contiguous strides", () => {
  checkAgainst("tensors_zip.pt", expected.tensors);
});

Deno.test("torch_file: legacy (pre-1.6) format gives the same tensors", () => {
  checkAgainst("tensors_legacy.pt", expected.tensors);
});

Deno.test("torch_file: a module state_dict (OrderedDict with _metadata, int64 counter)", () => {
  checkAgainst("module_zip.pt", expected.module);
  const sd = readTorchFile(Deno.readFileSync(new URL("module_zip.pt", DIR)));
  // File order is the state_dict order.
  assertEquals([...sd.keys()][0], "0.weight");
  assertEquals(toFloat32(sd.get("1.num_batches_tracked")!), new Float32Array([0]));
});

Deno.test("torch_file: unsupported globals and opcodes are named in the error", () => {
  const e = assertThrows(
    () => readTorchFile(Deno.readFileSync(new URL("unsupported.pt", DIR))),
    "torch.device",
  );
  assert(e instanceof TorchFileError);
  // 0x69 = INST (protocol 0), which torch never writes.
  assertThrows(() => unpickle(new Uint8Array([0x80, 2, 0x69]), 0, () => null), "INST");
  assertThrows(() => readTorchFile(new Uint8Array([1, 2, 3, 4])), "not a torch.save file");
});

Deno.test("torch_file: hand-assembled pickle (protocol 4 framing, memo, long, float)", () => {
  // {'a': [1, -2, 3.5], 'b': (True, None, 2**70)} written by hand from pickletools' listing.
  const enc = new TextEncoder();
  const parts: (number[] | Uint8Array)[] = [
    [0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0], // PROTO 4, FRAME (length unused)
    [0x7d, 0x94, 0x28], // EMPTY_DICT, MEMOIZE, MARK
    [0x8c, 1],
    enc.encode("a"),
    [0x94], // SHORT_BINUNICODE 'a', MEMOIZE
    [0x5d, 0x94, 0x28, 0x4b, 1, 0x4a, 0xfe, 0xff, 0xff, 0xff], // [ MARK 1 -2
    [0x47, 0x40, 0x0c, 0, 0, 0, 0, 0, 0, 0x65], // BINFLOAT 3.5, APPENDS
    [0x8c, 1],
    enc.encode("b"),
    [0x94],
    [0x88, 0x4e, 0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x87], // True None 2**70 TUPLE3
    [0x75, 0x2e], // SETITEMS STOP
  ];
  const bytes = parts.flatMap((p) => [...p]);
  const { value } = unpickle(new Uint8Array(bytes), 0, () => null);
  const m = value as Map<string, unknown>;
  assertEquals(m.get("a"), [1, -2, 3.5]);
  assertEquals(m.get("b"), [true, null, 2n ** 70n]);
});
