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
 * The pickle itself goes through torch_pickle.ts; tensors are rebuilt from (storage, offset, size,
 * stride) by torch_tensor.ts, so views and non-contiguous tensors come out as contiguous
 * row-major arrays.
 */
import { unzipSync } from "fflate";
import { PyGlobal, unpickle } from "./torch_pickle.ts";
import {
  PyTensor,
  rebuildTensor,
  Storage,
  STORAGE_TYPES,
  type TorchDtype,
  TorchFileError,
  type TorchTensor,
} from "./torch_tensor.ts";

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
