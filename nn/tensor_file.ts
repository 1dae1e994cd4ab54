/**
 * A small self-describing file of named float32/int32 arrays: a JSON header (names, dtypes,
 * shapes, offsets and free-form metadata) followed by the raw little-endian data. Used for
 * model weights, optimizer state and checkpoints; written atomically by the caller's store.
 */
export type NamedArray = {
  shape: number[];
  data: Float32Array | Int32Array;
};

export type TensorFile = {
  arrays: Record<string, NamedArray>;
  meta: Record<string, unknown>;
};

const MAGIC = "GFTENSOR1\n";

export function encodeTensorFile(file: TensorFile): Uint8Array {
  const names = Object.keys(file.arrays).sort();
  let offset = 0;
  const entries = names.map((name) => {
    const { shape, data } = file.arrays[name];
    const count = shape.reduce((a, b) => a * b, 1);
    if (count !== data.length) {
      throw new Error(`tensor file: ${name} has shape [${shape}] but ${data.length} values`);
    }
    const entry = {
      name,
      dtype: data instanceof Int32Array ? "int32" : "float32",
      shape,
      offset,
    };
    offset += data.byteLength;
    return entry;
  });
  const header = new TextEncoder().encode(JSON.stringify({ entries, meta: file.meta }));
  // Pad so the data section starts 8-byte aligned and can be viewed without copying.
  const prefix = MAGIC.length + 8 + header.length;
  const pad = (8 - (prefix % 8)) % 8;
  const out = new Uint8Array(prefix + pad + offset);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setBigUint64(MAGIC.length, BigInt(header.length + pad), true);
  out.set(header, MAGIC.length + 8);
  out.fill(0x20, MAGIC.length + 8 + header.length, prefix + pad); // spaces keep the JSON valid
  const base = prefix + pad;
  names.forEach((name, i) => {
    const d = file.arrays[name].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), base + entries[i].offset);
  });
  return out;
}

export function decodeTensorFile(bytes: Uint8Array): TensorFile {
  const magic = new TextDecoder().decode(bytes.subarray(0, MAGIC.length));
  if (magic !== MAGIC) throw new Error("tensor file: bad magic (not a ganflow tensor file)");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(MAGIC.length, true));
  const headerStart = MAGIC.length + 8;
  const header = JSON.parse(
    new TextDecoder().decode(bytes.subarray(headerStart, headerStart + headerLen)),
  ) as {
    entries: { name: string; dtype: string; shape: number[]; offset: number }[];
    meta: Record<string, unknown>;
  };
  const base = headerStart + headerLen;
  const arrays: Record<string, NamedArray> = {};
  for (const e of header.entries) {
    const count = e.shape.reduce((a, b) => a * b, 1);
    const start = base + e.offset;
    if (start + count * 4 > bytes.length) {
      throw new Error(`tensor file: truncated at ${e.name}`);
    }
    // Copy out so the arrays own aligned memory independent of the file buffer.
    const raw = bytes.slice(start, start + count * 4);
    arrays[e.name] = {
      shape: e.shape,
      data: e.dtype === "int32" ? new Int32Array(raw.buffer) : new Float32Array(raw.buffer),
    };
  }
  return { arrays, meta: header.meta };
}

export async function writeTensorFile(path: string, file: TensorFile): Promise<void> {
  await Deno.writeFile(path, encodeTensorFile(file));
}

export async function readTensorFile(path: string): Promise<TensorFile> {
  return decodeTensorFile(await Deno.readFile(path));
}
