/**
 * The digest a prepared dataset's manifest records for each source image (xxhash64 of its bytes,
 * prefixed with the algorithm), by which duplicates are found. The same digest the pipeline's
 * hashing gives; kept here so data/ does not depend on the engine.
 */
import { createXXHash64, type IHasher } from "hash-wasm";

// One hasher for every call: creating one instantiates a WebAssembly module (~50 us), more than
// hashing a small image costs. init/update/digest run synchronously, so calls cannot interleave.
let hasher: Promise<IHasher> | null = null;

export async function contentDigest(data: Uint8Array): Promise<string> {
  const h = await (hasher ??= createXXHash64());
  h.init();
  h.update(data);
  return "xxh64:" + h.digest("hex");
}
