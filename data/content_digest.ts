/**
 * The digest a prepared dataset's manifest records for each source image (xxhash64 of its bytes,
 * prefixed with the algorithm), by which duplicates are found. The same digest the pipeline's
 * hashing gives; kept here so data/ does not depend on the engine.
 */
import { createXXHash64 } from "hash-wasm";

export async function contentDigest(data: Uint8Array): Promise<string> {
  const h = await createXXHash64();
  h.init();
  h.update(data);
  return "xxh64:" + h.digest("hex");
}
