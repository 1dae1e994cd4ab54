/**
 * A minimal reader for tensors saved by PyTorch's `torch.save` (e.g. a `state_dict`), with no
 * Python at hand. Two container formats:
 *
 * - zip (torch >= 1.6, `_use_new_zipfile_serialization=True`): stored entries
 *   `<archive>/data.pkl` (the pickled object) and `<archive>/data/<key>` (one raw little-endian
 *   storage per key); the persistent ids are ('storage', torch.FloatStorage, key, location, numel).
 * - legacy (older torch, e.g. the 2019 pytorch-fid Inception weights): five pickles in a row (magic
 *   number, protocol version, sys info, the object, the storage keys), then each storage as an int64
 *   element count followed by its raw bytes; persistent ids are
 *   ('storage', torch.FloatStorage, key, location, numel, view_metadata).
 *
 * The unpickler implements the opcodes torch.save emits for dicts of tensors (protocol 2, plus
 * a few from later protocols) and only the globals needed to rebuild them
 * (`torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter`,
 * `collections.OrderedDict`, the typed storage classes). Anything else fails with an error that
 * names the opcode or global. Tensors are rebuilt from (storage, offset, size, stride), so views
 * and non-contiguous tensors come out as contiguous row-major arrays.
 */
import { unzipSync } from "fflate";

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

const STORAGE_TYPES: Record<string, { dtype: TorchDtype; bytes: number }> = {
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

/** A Python global the unpickler knows (`module.name`). */
class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A storage: its element type and its bytes (legacy files fill the bytes in after the pickle). */
class Storage {
  constructor(
    readonly dtype: TorchDtype,
    readonly bytesPer: number,
    public bytes: Uint8Array,
  ) {}
}

/** A tensor as pickled: materialised once every storage has its bytes. */
class PyTensor {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly size: readonly number[],
    readonly stride: readonly number[],
  ) {}
}

const MARK = Symbol("mark");

const SUPPORTED_GLOBALS = new Set([
  "collections.OrderedDict",
  "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_tensor",
  "torch._utils._rebuild_parameter",
  ...Object.keys(STORAGE_TYPES).map((s) => `torch.${s}`),
]);

const OPCODE_NAMES: Record<number, string> = {
  0x28: "MARK",
  0x2e: "STOP",
  0x30: "POP",
  0x31: "POP_MARK",
  0x32: "DUP",
  0x46: "FLOAT",
  0x49: "INT",
  0x4a: "BININT",
  0x4b: "BININT1",
  0x4c: "LONG",
  0x4d: "BININT2",
  0x4e: "NONE",
  0x50: "PERSID",
  0x51: "BINPERSID",
  0x52: "REDUCE",
  0x53: "STRING",
  0x54: "BINSTRING",
  0x55: "SHORT_BINSTRING",
  0x56: "UNICODE",
  0x58: "BINUNICODE",
  0x61: "APPEND",
  0x62: "BUILD",
  0x63: "GLOBAL",
  0x64: "DICT",
  0x7d: "EMPTY_DICT",
  0x65: "APPENDS",
  0x67: "GET",
  0x68: "BINGET",
  0x69: "INST",
  0x6a: "LONG_BINGET",
  0x6c: "LIST",
  0x5d: "EMPTY_LIST",
  0x6f: "OBJ",
  0x70: "PUT",
  0x71: "BINPUT",
  0x72: "LONG_BINPUT",
  0x73: "SETITEM",
  0x74: "TUPLE",
  0x29: "EMPTY_TUPLE",
  0x75: "SETITEMS",
  0x47: "BINFLOAT",
  0x80: "PROTO",
  0x81: "NEWOBJ",
  0x82: "EXT1",
  0x83: "EXT2",
  0x84: "EXT4",
  0x85: "TUPLE1",
  0x86: "TUPLE2",
  0x87: "TUPLE3",
  0x88: "NEWTRUE",
  0x89: "NEWFALSE",
  0x8a: "LONG1",
  0x8b: "LONG4",
  0x42: "BINBYTES",
  0x43: "SHORT_BINBYTES",
  0x8c: "SHORT_BINUNICODE",
  0x8d: "BINUNICODE8",
  0x8e: "BINBYTES8",
  0x8f: "EMPTY_SET",
  0x90: "ADDITEMS",
  0x91: "FROZENSET",
  0x92: "NEWOBJ_EX",
  0x93: "STACK_GLOBAL",
  0x94: "MEMOIZE",
  0x95: "FRAME",
  0x96: "BYTEARRAY8",
  0x97: "NEXT_BUFFER",
  0x98: "READONLY_BUFFER",
};

export class TorchFileError extends Error {}

/** Little-endian two's-complement integer of arbitrary length (pickle LONG1/LONG4). */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : v;
}

/**
 * Unpickles one pickle starting at `pos`; returns the value and the position after STOP.
 * `persistentLoad` resolves BINPERSID ids (storages).
 */
export function unpickle(
  buf: Uint8Array,
  pos: number,
  persistentLoad: (pid: unknown) => unknown,
): { value: unknown; end: number } {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const text = new TextDecoder("utf-8");
  const latin1 = new TextDecoder("latin1");
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  const need = (n: number) => {
    if (pos + n > buf.length) throw new TorchFileError("pickle: unexpected end of data");
  };
  const u8 = () => (need(1), buf[pos++]);
  const u16 = () => (need(2), pos += 2, view.getUint16(pos - 2, true));
  const u32 = () => (need(4), pos += 4, view.getUint32(pos - 4, true));
  const i32 = () => (need(4), pos += 4, view.getInt32(pos - 4, true));
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new TorchFileError("pickle: length too large");
    return Number(v);
  };
  const bytes = (n: number) => (need(n), pos += n, buf.subarray(pos - n, pos));
  const line = () => {
    const start = pos;
    while (pos < buf.length && buf[pos] !== 0x0a) pos++;
    if (pos >= buf.length) throw new TorchFileError("pickle: unterminated text line");
    return latin1.decode(buf.subarray(start, pos++));
  };
  const popMark = (): unknown[] => {
    for (let i = stack.length - 1; i >= 0; i--) {
      if (stack[i] === MARK) {
        const items = stack.slice(i + 1);
        stack.length = i;
        return items;
      }
    }
    throw new TorchFileError("pickle: MARK not found");
  };
  const pop = () => {
    if (stack.length === 0) throw new TorchFileError("pickle: stack underflow");
    return stack.pop();
  };
  const top = () => {
    if (stack.length === 0) throw new TorchFileError("pickle: stack underflow");
    return stack[stack.length - 1];
  };
  const global = (module: string, name: string) => {
    const g = new PyGlobal(module, name);
    if (!SUPPORTED_GLOBALS.has(g.qualified)) {
      throw new TorchFileError(
        `unsupported pickle global "${g.qualified}" (this reader rebuilds only dicts of ` +
          "tensors: state_dicts saved with torch.save)",
      );
    }
    return g;
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (!(target instanceof Map)) throw new TorchFileError("pickle: SETITEM(S) on a non-dict");
    for (let i = 0; i + 1 < items.length; i += 2) target.set(items[i], items[i + 1]);
  };
  const appendItems = (target: unknown, items: unknown[]) => {
    if (!Array.isArray(target)) throw new TorchFileError("pickle: APPEND(S) on a non-list");
    target.push(...items);
  };
  for (;;) {
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME: an 8-byte length; the framed data follows inline
        bytes(8);
        break;
      case 0x2e: // STOP
        return { value: pop(), end: pos };
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(decodeLong(bytes(u8())));
        break;
      case 0x8b: // LONG4
        stack.push(decodeLong(bytes(i32())));
        break;
      case 0x49: { // INT (text; "00"/"01" are False/True)
        const s = line();
        stack.push(s === "00" ? false : s === "01" ? true : Number(s));
        break;
      }
      case 0x4c: { // LONG (text)
        const v = BigInt(line().replace(/L$/, ""));
        stack.push(
          v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
            ? Number(v)
            : v,
        );
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x46: // FLOAT (text)
        stack.push(Number(line()));
        break;
      case 0x58: // BINUNICODE
        stack.push(text.decode(bytes(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text.decode(bytes(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text.decode(bytes(u64())));
        break;
      case 0x54: // BINSTRING (py2 str: latin-1 text)
        stack.push(latin1.decode(bytes(i32())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1.decode(bytes(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(bytes(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(bytes(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
        stack.push(bytes(u64()).slice());
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: { // DICT
        const d = new Map();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(Object.freeze([]));
        break;
      case 0x74: // TUPLE
        stack.push(Object.freeze(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(Object.freeze([pop()]));
        break;
      case 0x86: { // TUPLE2
        const b = pop(), a = pop();
        stack.push(Object.freeze([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop(), b = pop(), a = pop();
        stack.push(Object.freeze([a, b, c]));
        break;
      }
      case 0x73: { // SETITEM
        const v = pop(), k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x70: // PUT (text)
        memo.set(Number(line()), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: // LONG_BINGET
      case 0x67: { // GET
        const idx = op === 0x68 ? u8() : op === 0x6a ? u32() : Number(line());
        if (!memo.has(idx)) throw new TorchFileError(`pickle: memo entry ${idx} missing`);
        stack.push(memo.get(idx));
        break;
      }
      case 0x63: { // GLOBAL "module\nname\n"
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        stack.push(global(String(module), String(name)));
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistentLoad(pop()));
        break;
      case 0x52: { // REDUCE
        const args = pop(), fn = pop();
        stack.push(reduce(fn, args));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop(), cls = pop();
        stack.push(reduce(cls, args));
        break;
      }
      case 0x62: { // BUILD: setstate. Dict attributes (state_dict._metadata) are dropped.
        const state = pop();
        const obj = top();
        if (!(obj instanceof Map) && !(obj instanceof PyTensor)) {
          throw new TorchFileError(`pickle: BUILD on an unsupported object (${typeof state})`);
        }
        break;
      }
      default: {
        const name = OPCODE_NAMES[op];
        throw new TorchFileError(
          `unsupported pickle opcode ${name ?? "(unknown)"} 0x${
            op.toString(16).padStart(2, "0")
          } at byte ${at}`,
        );
      }
    }
  }
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function reduce(fn: unknown, args: unknown): unknown {
  if (!(fn instanceof PyGlobal)) throw new TorchFileError("pickle: REDUCE of a non-callable");
  const a = args as unknown[];
  switch (fn.qualified) {
    case "collections.OrderedDict":
      return new Map(a.length ? (a[0] as [unknown, unknown][]) : []);
    case "torch._utils._rebuild_tensor_v2":
    case "torch._utils._rebuild_tensor":
      if (!(a[0] instanceof Storage)) throw new TorchFileError("tensor without a storage");
      return new PyTensor(
        a[0],
        a[1] as number,
        a[2] as readonly number[],
        a[3] as readonly number[],
      );
    case "torch._utils._rebuild_parameter":
      return a[0];
    default:
      throw new TorchFileError(`pickle: calling "${fn.qualified}" is not supported`);
  }
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

function rebuildTensor(
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

function storageType(t: unknown): { dtype: TorchDtype; bytes: number } {
  if (t instanceof PyGlobal && t.module === "torch" && STORAGE_TYPES[t.name]) {
    return STORAGE_TYPES[t.name];
  }
  throw new TorchFileError(`unsupported storage type ${t instanceof PyGlobal ? t.qualified : t}`);
}

/** Turns the unpickled object into name -> tensor (nested dicts get dotted names). */
function collect(obj: unknown): Map<string, TorchTensor> {
  const out = new Map<string, TorchTensor>();
  const walk = (v: unknown, prefix: string) => {
    if (v instanceof PyTensor) {
      out.set(prefix, rebuildTensor(v.storage, v.offset, v.size, v.stride));
    } else if (v instanceof Map) {
      for (const [k, x] of v) walk(x, prefix ? `${prefix}.${k}` : String(k));
    }
    // Other values (numbers, strings, None) carry no tensors.
  };
  if (!(obj instanceof Map) && !(obj instanceof PyTensor)) {
    throw new TorchFileError("the saved object is not a dict of tensors");
  }
  walk(obj, "");
  return out;
}

function readZip(file: Uint8Array): Map<string, TorchTensor> {
  const entries = unzipSync(file);
  const pklName = Object.keys(entries).find((n) => n === "data.pkl" || n.endsWith("/data.pkl"));
  if (!pklName) throw new TorchFileError("zip file without data.pkl: not a torch.save file");
  const root = pklName.slice(0, pklName.length - "data.pkl".length);
  const order = entries[`${root}byteorder`];
  if (order && new TextDecoder().decode(order).trim() !== "little") {
    throw new TorchFileError("big-endian torch files are not supported");
  }
  const storages = new Map<string, Storage>();
  const { value } = unpickle(entries[pklName], 0, (pid) => {
    const t = pid as unknown[];
    if (!Array.isArray(t) || t[0] !== "storage") {
      throw new TorchFileError(`unsupported persistent id ${JSON.stringify(t?.[0] ?? t)}`);
    }
    const key = String(t[2]);
    let s = storages.get(key);
    if (!s) {
      const { dtype, bytes } = storageType(t[1]);
      const data = entries[`${root}data/${key}`];
      if (!data) throw new TorchFileError(`storage ${key} missing from the zip (${root}data/)`);
      s = new Storage(dtype, bytes, data);
      storages.set(key, s);
    }
    return s;
  });
  return collect(value);
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

function readLegacy(file: Uint8Array): Map<string, TorchTensor> {
  const noPid = () => {
    throw new TorchFileError("unexpected persistent id in a legacy header");
  };
  let r = unpickle(file, 0, noPid);
  if (r.value !== LEGACY_MAGIC) {
    throw new TorchFileError("not a torch.save file (neither zip nor the legacy magic number)");
  }
  r = unpickle(file, r.end, noPid);
  if (r.value !== 1001) throw new TorchFileError(`legacy protocol ${r.value} is not supported`);
  r = unpickle(file, r.end, noPid);
  const sys = r.value;
  if (sys instanceof Map && sys.get("little_endian") === false) {
    throw new TorchFileError("big-endian torch files are not supported");
  }
  // Storages are referenced while unpickling the object; their bytes follow the key list.
  const roots = new Map<string, Storage>();
  const views: { view: Storage; root: string; offset: number }[] = [];
  const viewsByKey = new Map<string, Storage>();
  r = unpickle(file, r.end, (pid) => {
    const t = pid as unknown[];
    if (!Array.isArray(t) || t[0] !== "storage") {
      throw new TorchFileError(`unsupported persistent id ${JSON.stringify(t?.[0] ?? t)}`);
    }
    const type = storageType(t[1]);
    const key = String(t[2]);
    let root = roots.get(key);
    if (!root) {
      root = new Storage(type.dtype, type.bytes, new Uint8Array(0));
      roots.set(key, root);
    }
    const meta = t[5] as unknown[] | null | undefined;
    if (!meta) return root;
    const viewKey = String(meta[0]);
    let v = viewsByKey.get(viewKey);
    if (!v) {
      v = new Storage(type.dtype, type.bytes, new Uint8Array(0));
      viewsByKey.set(viewKey, v);
      views.push({ view: v, root: key, offset: Number(meta[1]) });
    }
    return v;
  });
  const obj = r.value;
  r = unpickle(file, r.end, noPid);
  const keys = r.value as unknown[];
  let pos = r.end;
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  for (const k of keys) {
    const key = String(k);
    const s = roots.get(key);
    if (!s) throw new TorchFileError(`legacy storage ${key} was never referenced`);
    if (pos + 8 > file.length) throw new TorchFileError(`legacy storage ${key} is truncated`);
    const numel = Number(view.getBigInt64(pos, true));
    pos += 8;
    const len = numel * s.bytesPer;
    if (pos + len > file.length) throw new TorchFileError(`legacy storage ${key} is truncated`);
    s.bytes = file.subarray(pos, pos + len);
    pos += len;
  }
  for (const { view: v, root, offset } of views) {
    const bytes = roots.get(root)!.bytes;
    v.bytes = bytes.subarray(offset * v.bytesPer);
  }
  return collect(obj);
}

/**
 * Parses a torch.save file (zip or legacy) holding a dict of tensors (a state_dict; nested
 * dicts give dotted names). Returns name -> tensor in file order.
 */
export function readTorchFile(file: Uint8Array): Map<string, TorchTensor> {
  if (file.length >= 4 && file[0] === 0x50 && file[1] === 0x4b && file[2] === 0x03) {
    return readZip(file);
  }
  if (file.length >= 2 && file[0] === 0x80) {
    return readLegacy(file);
  }
  throw new TorchFileError("not a torch.save file (expected a zip or a legacy pickle)");
}

/** Any tensor's values as float32 (int64 beyond 2^24 loses precision, as in torch). */
export function toFloat32(t: TorchTensor): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Number(t.data[i]);
  return out;
}
