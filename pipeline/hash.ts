/**
 * Content digests: xxhash64 (hash-wasm, ~4 GB/s here) streamed over files, and a digest of a
 * directory tree from its sorted per-file digests. Digests are prefixed with the algorithm.
 */
import { createXXHash64, type IHasher } from "hash-wasm";

const CHUNK = 4 << 20;

async function hasher(): Promise<IHasher> {
  const h = await createXXHash64();
  h.init();
  return h;
}

export async function hashBytes(data: Uint8Array | string): Promise<string> {
  const h = await hasher();
  h.update(data);
  return "xxh64:" + h.digest("hex");
}

/** Streams a file through the hasher in 4 MiB reads. */
export async function hashFile(path: string): Promise<{ digest: string; size: number }> {
  const h = await hasher();
  const file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(CHUNK);
  let size = 0;
  try {
    while (true) {
      const n = await file.read(buf);
      if (n === null) break;
      h.update(buf.subarray(0, n));
      size += n;
    }
  } finally {
    file.close();
  }
  return { digest: "xxh64:" + h.digest("hex"), size };
}

/** JSON with sorted object keys, so equal values always serialise (and hash) the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = sortKeys(x);
    }
    return out;
  }
  return v;
}

/** Digest of a tree given its files' digests (path order independent of listing order). */
export function treeDigest(
  files: Record<string, { digest: string; size: number }>,
): Promise<string> {
  const lines = Object.keys(files).sort().map((p) => `${p}\0${files[p].digest}\0${files[p].size}`);
  return hashBytes(lines.join("\n"));
}
