/**
 * Minimal Zarr writer for chunked NHWC arrays, in v3 (default, complete metadata: explicit
 * codecs and fill_value) or v2 (which every zarr reader, e.g. Debian's zarr 2.13, opens).
 * Chunks are compressed with zstd through zarrita's codec registry. Reading goes through
 * zarrita, an implementation we did not write.
 */
import * as zarr from "zarrita";
import FileSystemStore from "@zarrita/storage/fs";
import { join } from "node:path";

export type ZarrFormat = 2 | 3;
export type DType = "uint8" | "float32" | "int32";

const V2_DTYPE: Record<DType, string> = { uint8: "|u1", float32: "<f4", int32: "<i4" };

interface Codec {
  encode(data: Uint8Array): Promise<Uint8Array> | Uint8Array;
}

let zstdCodec: Promise<Codec> | null = null;
function zstd(): Promise<Codec> {
  zstdCodec ??= (async () => {
    const factory = zarr.registry.get("zstd")!;
    const Cls = await factory() as unknown as {
      fromConfig(c: { level: number; checksum: boolean }): Codec;
    };
    return Cls.fromConfig({ level: 3, checksum: false });
  })();
  return zstdCodec;
}

export interface ArraySpec {
  shape: number[];
  chunks: number[];
  dtype: DType;
  attributes?: Record<string, unknown>;
  compress?: boolean;
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await Deno.writeTextFile(path, JSON.stringify(value, null, 2));
}

export async function createGroup(
  root: string,
  path: string,
  format: ZarrFormat,
  attributes: Record<string, unknown> = {},
): Promise<void> {
  const dir = join(root, path);
  await Deno.mkdir(dir, { recursive: true });
  if (format === 3) {
    await writeJson(join(dir, "zarr.json"), { zarr_format: 3, node_type: "group", attributes });
  } else {
    await writeJson(join(dir, ".zgroup"), { zarr_format: 2 });
    await writeJson(join(dir, ".zattrs"), attributes);
  }
}

export class ArrayWriter {
  private constructor(
    readonly dir: string,
    readonly spec: ArraySpec,
    readonly format: ZarrFormat,
  ) {}

  static async create(root: string, path: string, format: ZarrFormat, spec: ArraySpec) {
    const dir = join(root, path);
    await Deno.mkdir(dir, { recursive: true });
    const compress = spec.compress ?? true;
    if (format === 3) {
      const codecs: unknown[] = [{ name: "bytes", configuration: { endian: "little" } }];
      if (compress) codecs.push({ name: "zstd", configuration: { level: 3, checksum: false } });
      await writeJson(join(dir, "zarr.json"), {
        zarr_format: 3,
        node_type: "array",
        shape: spec.shape,
        data_type: spec.dtype,
        chunk_grid: { name: "regular", configuration: { chunk_shape: spec.chunks } },
        chunk_key_encoding: { name: "default", configuration: { separator: "/" } },
        fill_value: 0,
        codecs,
        attributes: spec.attributes ?? {},
        dimension_names: spec.shape.length === 4 ? ["n", "y", "x", "c"] : null,
      });
    } else {
      await writeJson(join(dir, ".zarray"), {
        zarr_format: 2,
        shape: spec.shape,
        chunks: spec.chunks,
        dtype: V2_DTYPE[spec.dtype],
        compressor: compress ? { id: "zstd", level: 3 } : null,
        fill_value: 0,
        order: "C",
        filters: null,
        dimension_separator: ".",
      });
      await writeJson(join(dir, ".zattrs"), spec.attributes ?? {});
    }
    return new ArrayWriter(dir, { ...spec, compress }, format);
  }

  chunkKey(coords: number[]): string {
    return this.format === 3 ? join("c", ...coords.map(String)) : coords.join(".");
  }

  /** Writes one chunk; `data` covers the full chunk shape (edge chunks padded with fill 0). */
  async writeChunk(coords: number[], data: Uint8Array | Float32Array | Int32Array): Promise<void> {
    const expected = this.spec.chunks.reduce((a, b) => a * b, 1);
    if (data.length !== expected) {
      throw new Error(`zarr chunk ${coords}: ${data.length} values, chunk holds ${expected}`);
    }
    let bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (this.spec.compress) bytes = new Uint8Array(await (await zstd()).encode(bytes));
    const path = join(this.dir, this.chunkKey(coords));
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await Deno.writeFile(path, bytes);
  }
}

/** Opens an array with zarrita (v2 or v3). */
export async function openArray(root: string, path: string) {
  const store = new FileSystemStore(root);
  const loc = zarr.root(store).resolve(path);
  return await zarr.open(loc, { kind: "array" });
}

export async function readAttributes(root: string, path: string): Promise<Record<string, unknown>> {
  const store = new FileSystemStore(root);
  const node = await zarr.open(zarr.root(store).resolve(path));
  return node.attrs as Record<string, unknown>;
}

/** Reads a whole array into memory (fine for codes and sample sets). */
export async function readWholeArray(
  root: string,
  path: string,
): Promise<
  { data: Uint8Array | Float32Array | Int32Array; shape: number[]; attrs: Record<string, unknown> }
> {
  const arr = await openArray(root, path);
  const res = await zarr.get(arr);
  return {
    data: res.data as Uint8Array | Float32Array | Int32Array,
    shape: res.shape,
    attrs: arr.attrs as Record<string, unknown>,
  };
}
