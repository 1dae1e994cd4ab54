import { assertEquals } from "../tests/assert.ts";
import { contentDigest } from "./content_digest.ts";

// xxHash64 (seed 0) test vectors from the reference implementation's documentation/sanity checks.
Deno.test("contentDigest is xxhash64 with its algorithm prefix", async () => {
  assertEquals(await contentDigest(new Uint8Array()), "xxh64:ef46db3751d8e999");
  assertEquals(
    await contentDigest(new TextEncoder().encode("abc")),
    "xxh64:44bc2cf5ad770999",
  );
});

Deno.test("contentDigest: concurrent calls share one hasher without mixing their inputs", async () => {
  const inputs = ["", "abc", "", "abc"].map((s) => new TextEncoder().encode(s));
  assertEquals(await Promise.all(inputs.map(contentDigest)), [
    "xxh64:ef46db3751d8e999",
    "xxh64:44bc2cf5ad770999",
    "xxh64:ef46db3751d8e999",
    "xxh64:44bc2cf5ad770999",
  ]);
});
