/**
 * Tensors as torch.save stores them (torch_file.ts reads the files): element types, storages
 * (typed bytes, legacy files fill them in after the pickle), and rebuilding a tensor from
 * (storage, offset, size, stride) as a contiguous row-major array.
 */

export type TorchDtype =
  | "float32"
  | "float64"
  | "float16"
  | "bfloat16"
  | "int64"
  | "int32"
  | "int16"
  | "int8"
  | "uint8"
  | "bool";

/**
 * One tensor, contiguous row-major. float32/float16/bfloat16 -> Float32Array, float64 ->
 * Float64Array, int64 -> BigInt64Array (exact), int32/int16/int8 -> Int32Array/Int16Array/
 * Int8Array, uint8 and bool -> Uint8Array. `toFloat32` converts any of them.
 */
export interface TorchTensor {
  dtype: TorchDtype;
  shape: number[];
  data:
    | Float32Array
    | Float64Array
    | BigInt64Array
    | Int32Array
    | Int16Array
    | Int8Array
    | Uint8Array;
}

export const STORAGE_TYPES: Record<string, { dtype: TorchDtype; bytes: number }> = {
  FloatStorage: { dtype: "float32", bytes: 4 },
  DoubleStorage: { dtype: "float64", bytes: 8 },
  HalfStorage: { dtype: "float16", bytes: 2 },
  BFloat16Storage: { dtype: "bfloat16", bytes: 2 },
  LongStorage: { dtype: "int64", bytes: 8 },
  IntStorage: { dtype: "int32", bytes: 4 },
  ShortStorage: { dtype: "int16", bytes: 2 },
  CharStorage: { dtype: "int8", bytes: 1 },
  ByteStorage: { dtype: "uint8", bytes: 1 },
  BoolStorage: { dtype: "bool", bytes: 1 },
};

/** A storage: its element type and its bytes (legacy files fill the bytes in after the pickle). */
export class Storage {
  constructor(
    readonly dtype: TorchDtype,
    readonly bytesPer: number,
    public bytes: Uint8Array,
  ) {}
}

/** A tensor as pickled: materialised once every storage has its bytes. */
export class PyTensor {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly size: readonly number[],
    readonly stride: readonly number[],
  ) {}
}

export class TorchFileError extends Error {}

export function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function typedView(s: Storage, bytes: Uint8Array): TorchTensor["data"] {
  // Copy into a fresh, aligned buffer (zip entries need not be aligned to the element size).
  const copy = bytes.slice();
  const n = bytes.length / s.bytesPer;
  switch (s.dtype) {
    case "float32":
      return new Float32Array(copy.buffer, 0, n);
    case "float64":
      return new Float64Array(copy.buffer, 0, n);
    case "int64":
      return new BigInt64Array(copy.buffer, 0, n);
    case "int32":
      return new Int32Array(copy.buffer, 0, n);
    case "int16":
      return new Int16Array(copy.buffer, 0, n);
    case "int8":
      return new Int8Array(copy.buffer, 0, n);
    case "uint8":
    case "bool":
      return copy;
    case "float16":
    case "bfloat16": {
      const u = new Uint16Array(copy.buffer, 0, n);
      const out = new Float32Array(n);
      if (s.dtype === "float16") { for (let i = 0; i < n; i++) out[i] = halfToFloat(u[i]); }
      else {
        const u32 = new Uint32Array(out.buffer);
        for (let i = 0; i < n; i++) u32[i] = u[i] << 16;
      }
      return out;
    }
  }
}

export function rebuildTensor(
  storage: Storage,
  offset: number,
  size: readonly number[],
  stride: readonly number[],
): TorchTensor {
  const shape = [...size];
  const n = product(shape);
  const numel = storage.bytes.length / storage.bytesPer;
  // Contiguous row-major strides?
  let contiguous = true;
  for (let d = shape.length - 1, expect = 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expect) contiguous = false;
    expect *= shape[d];
  }
  if (n === 0) {
    return { dtype: storage.dtype, shape, data: typedView(storage, new Uint8Array(0)) };
  }
  let maxIndex = offset;
  for (let d = 0; d < shape.length; d++) maxIndex += (shape[d] - 1) * Math.max(stride[d], 0);
  if (maxIndex >= numel || offset < 0 || stride.some((s) => s < 0)) {
    throw new TorchFileError(
      `tensor [${shape}] (offset ${offset}, stride [${stride}]) overruns its storage of ${numel}`,
    );
  }
  const b = storage.bytesPer;
  if (contiguous) {
    return {
      dtype: storage.dtype,
      shape,
      data: typedView(storage, storage.bytes.subarray(offset * b, (offset + n) * b)),
    };
  }
  // Gather element by element (byte copies, so every dtype shares one path).
  const out = new Uint8Array(n * b);
  const idx = new Array(shape.length).fill(0);
  let src = offset;
  for (let i = 0; i < n; i++) {
    out.set(storage.bytes.subarray(src * b, src * b + b), i * b);
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d]++;
      src += stride[d];
      if (idx[d] < shape[d]) break;
      src -= stride[d] * shape[d];
      idx[d] = 0;
    }
  }
  return { dtype: storage.dtype, shape, data: typedView(storage, out) };
}

/** Any tensor's values as float32 (int64 beyond 2^24 loses precision, as in torch). */
export function toFloat32(t: TorchTensor): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Number(t.data[i]);
  return out;
}
