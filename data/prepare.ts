/**
 * Dataset preparation, like ProGAN's dataset tool: every usable image is cropped to a square,
 * Lanczos-resized to the target resolution, and stored with every power-of-two level down to
 * 4x4 (each level the 2x2 mean of the one above, kept in float and rounded per level) as uint8
 * NHWC arrays `images/<res>` in one Zarr group, chunked by sample. Bad inputs are skipped with a
 * reason in `manifest.json`; they never stop the run or cost good images.
 */
import sharp, { type Sharp } from "sharp";
import { join } from "node:path";
import { contentDigest } from "./content_digest.ts";
import { ArrayWriter, createGroup, type ZarrFormat } from "./zarr_io.ts";
import { readSource, type SourceSpec } from "./sources.ts";
import type { SourceItem } from "./source_item.ts";

export interface PrepareOptions {
  source: SourceSpec;
  /** Target resolution (a power of two >= 4). */
  resolution: number;
  /** Pixels of black padding on each side before cropping (MNIST 28 -> 32 uses 2). */
  pad?: number;
  /** Centre square crop (default) or an explicit box in source pixels. */
  crop?: "center" | { left: number; top: number; width: number; height: number };
  /** Upscale images smaller than the target instead of skipping them. */
  upscaleSmall?: boolean;
  /** Larger images are refused as decompression bombs. Default 2^28 (16k x 16k). */
  maxPixels?: number;
  format?: ZarrFormat;
  /** The output directory: becomes the Zarr group. */
  out: string;
  concurrency?: number;
  /** Stored channels: 3 (default; grayscale sources are replicated to RGB) or 1 (luminance). */
  channels?: 1 | 3;
  /** Stop once this many images have been kept (later source items are not read). */
  limit?: number;
  /** Samples per chunk. */
  chunkSize?: number;
  onProgress?: (done: number, label: string) => void;
}

export interface ManifestEntry {
  name: string;
  digest?: string;
  status: "kept" | "skipped";
  reason?: string;
  index?: number;
  label?: number;
}

export interface PrepareSummary {
  kept: number;
  skipped: number;
  reasons: Record<string, number>;
  levels: number[];
}

export function levelsFor(resolution: number): number[] {
  if (!Number.isInteger(Math.log2(resolution)) || resolution < 4) {
    throw new Error(`resolution must be a power of two >= 4, got ${resolution}`);
  }
  const out: number[] = [];
  for (let r = resolution; r >= 4; r /= 2) out.push(r);
  return out;
}

/** Float pyramid: level k+1 is the 2x2 mean of level k; each level rounded to uint8 for storage. */
export function pyramid(image: Uint8Array, res: number, channels: number): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>([[res, image]]);
  let cur = Float32Array.from(image);
  for (let r = res; r > 4; r /= 2) {
    const h = r / 2;
    const next = new Float32Array(h * h * channels);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < h; x++) {
        for (let c = 0; c < channels; c++) {
          const a = ((2 * y) * r + 2 * x) * channels + c;
          const b = a + r * channels;
          next[(y * h + x) * channels + c] =
            (cur[a] + cur[a + channels] + cur[b] + cur[b + channels]) * 0.25;
        }
      }
    }
    const q = new Uint8Array(next.length);
    for (let i = 0; i < q.length; i++) q[i] = Math.min(255, Math.max(0, Math.round(next[i])));
    out.set(h, q);
    cur = next;
  }
  return out;
}

export type Decoded = { ok: true; pixels: Uint8Array; note?: string } | {
  ok: false;
  reason: string;
};

/**
 * Raw pixels that need no resampling (after padding they are exactly the target size, as MNIST's
 * 28x28 digits padded to 32): padded and, for grayscale to RGB, replicated here, without a
 * round trip through libvips per image; the bytes are the same as that path's
 * (prepare_test.ts checks). Null when the item needs libvips.
 */
export function rawAtTarget(item: SourceItem, o: PrepareOptions): Decoded | null {
  const channels = o.channels ?? 3;
  const pad = o.pad ?? 0;
  if (item.kind !== "pixels" || (o.crop ?? "center") !== "center") return null;
  if (item.width + 2 * pad !== o.resolution || item.height + 2 * pad !== o.resolution) return null;
  if (item.channels !== channels && !(item.channels === 1 && channels === 3)) return null;
  let px = item.pixels;
  if (px.length !== item.width * item.height * item.channels) return null;
  if (pad > 0) px = padPixels(px, item.width, item.height, item.channels, pad);
  return { ok: true, pixels: item.channels === channels ? Uint8Array.from(px) : grayToRgb(px) };
}

/** Each gray value three times (R, G, B). */
function grayToRgb(gray: Uint8Array): Uint8Array {
  const rgb = new Uint8Array(gray.length * 3);
  for (let i = 0; i < gray.length; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = gray[i];
  return rgb;
}

/** One item decoded, padded, cropped and resized to the target (libvips unless it is raw at size). */
async function decodeItem(item: SourceItem, o: PrepareOptions): Promise<Decoded> {
  return rawAtTarget(item, o) ?? await decodeWithSharp(item, o);
}

/** The general path: libvips (sharp) decodes, pads, crops, resizes and converts colour. */
export async function decodeWithSharp(item: SourceItem, o: PrepareOptions): Promise<Decoded> {
  const res = o.resolution;
  const maxPixels = o.maxPixels ?? 2 ** 28;
  const channels = o.channels ?? 3;
  try {
    let img: Sharp;
    let width: number, height: number;
    let note: string | undefined;
    if (item.kind === "pixels") {
      img = sharp(item.pixels, {
        raw: { width: item.width, height: item.height, channels: item.channels as 1 | 3 },
      });
      width = item.width;
      height = item.height;
    } else if (item.kind === "file" || item.kind === "bytes") {
      const bytes = item.kind === "file" ? await Deno.readFile(item.path) : item.bytes;
      if (bytes.length === 0) return { ok: false, reason: "empty file (0 bytes)" };
      img = sharp(bytes, { failOn: "truncated", limitInputPixels: maxPixels });
      const meta = await img.metadata();
      width = meta.width ?? 0;
      height = meta.height ?? 0;
      if (width * height > maxPixels) {
        return { ok: false, reason: "decompression bomb (over the pixel limit)" };
      }
      const ext = item.name.slice(item.name.lastIndexOf(".") + 1).toLowerCase();
      const fmt = meta.format === "jpeg" ? ["jpg", "jpeg"] : [meta.format];
      if (!fmt.includes(ext)) note = `extension .${ext} but the content is ${meta.format}`;
      if ((meta.orientation ?? 1) > 1) img = img.rotate();
    } else {
      return { ok: false, reason: item.reason };
    }
    const pad = o.pad ?? 0;
    if (pad > 0) {
      const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
      const padded = padPixels(new Uint8Array(data), info.width, info.height, info.channels, pad);
      width = info.width + 2 * pad;
      height = info.height + 2 * pad;
      img = sharp(padded, { raw: { width, height, channels: info.channels } });
    }
    const crop = o.crop ?? "center";
    const box = crop === "center"
      ? (() => {
        const side = Math.min(width, height);
        return {
          left: Math.floor((width - side) / 2),
          top: Math.floor((height - side) / 2),
          width: side,
          height: side,
        };
      })()
      : crop;
    if (
      box.left < 0 || box.top < 0 || box.left + box.width > width || box.top + box.height > height
    ) {
      return { ok: false, reason: `crop box outside the ${width}x${height} image` };
    }
    if (Math.min(box.width, box.height) < res && !o.upscaleSmall) {
      return { ok: false, reason: `smaller than the target (${box.width}x${box.height} < ${res})` };
    }
    if (box.width !== width || box.height !== height) img = img.extract(box);
    if (box.width !== res || box.height !== res) {
      img = img.resize(res, res, { kernel: "lanczos3", fit: "fill" });
    }
    const { data, info } = await img
      .flatten({ background: { r: 0, g: 0, b: 0 } })
      .toColourspace(channels === 1 ? "b-w" : "srgb")
      .removeAlpha()
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    let pixels: Uint8Array = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (info.channels === 1 && channels === 3) {
      pixels = grayToRgb(pixels.subarray(0, res * res));
    } else if (info.channels !== channels) {
      return { ok: false, reason: `unexpected channel count ${info.channels}` };
    }
    return { ok: true, pixels: new Uint8Array(pixels), note };
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    if (/pixel limit/i.test(msg)) {
      return { ok: false, reason: "decompression bomb (over the pixel limit)" };
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      return { ok: false, reason: "unreadable file (permission denied)" };
    }
    if (e instanceof Deno.errors.NotFound) {
      return { ok: false, reason: "file vanished while reading" };
    }
    // Anything else the decoder rejects (libvips says "unsupported format", "libpng read error",
    // "premature end", sometimes just "Unknown error") is a damaged or non-image file.
    return { ok: false, reason: `corrupt or truncated image (${msg.split("\n")[0]})` };
  }
}

/** Black border of `pad` pixels on every side. */
export function padPixels(
  px: Uint8Array,
  width: number,
  height: number,
  channels: number,
  pad: number,
): Uint8Array {
  const w2 = width + 2 * pad;
  const out = new Uint8Array(w2 * (height + 2 * pad) * channels);
  for (let y = 0; y < height; y++) {
    out.set(
      px.subarray(y * width * channels, (y + 1) * width * channels),
      ((y + pad) * w2 + pad) * channels,
    );
  }
  return out;
}

async function itemDigest(item: SourceItem): Promise<string | null> {
  try {
    if (item.kind === "pixels") return await contentDigest(item.pixels);
    if (item.kind === "file") return await contentDigest(await Deno.readFile(item.path));
    if (item.kind === "bytes") return await contentDigest(item.bytes);
  } catch { /* unreadable: decode reports it */ }
  return null;
}

export async function prepareDataset(o: PrepareOptions): Promise<PrepareSummary> {
  const levels = levelsFor(o.resolution);
  const channels = o.channels ?? 3;
  if (channels !== 1 && channels !== 3) throw new Error(`channels must be 1 or 3, got ${channels}`);
  const limit = o.limit ?? Infinity;
  if (!(limit > 0)) throw new Error(`limit must be a positive number of images, got ${o.limit}`);
  const format = o.format ?? 3;
  const chunkSize = o.chunkSize ?? 256;
  const concurrency = o.concurrency ?? Math.max(2, navigator.hardwareConcurrency);
  const manifest: ManifestEntry[] = [];
  const seen = new Map<string, string>();
  const pending = new Map<number, Uint8Array[]>(levels.map((r) => [r, []]));
  const writers = new Map<number, ArrayWriter>();
  const labels: number[] = [];
  let allLabelled = true;
  let kept = 0;
  let chunkIndex = 0;
  await Deno.mkdir(o.out, { recursive: true });

  const flush = async (final: boolean) => {
    const n = pending.get(levels[0])!.length;
    if (n === 0 || (!final && n < chunkSize)) return;
    for (const r of levels) {
      let w = writers.get(r);
      if (!w) {
        // Shape is fixed up when we know the count (metadata is rewritten at the end).
        w = await ArrayWriter.create(o.out, `images/${r}`, format, {
          shape: [chunkSize, r, r, channels],
          chunks: [chunkSize, r, r, channels],
          dtype: "uint8",
        });
        writers.set(r, w);
      }
      const buf = new Uint8Array(chunkSize * r * r * channels);
      pending.get(r)!.forEach((img, i) => buf.set(img, i * r * r * channels));
      await w.writeChunk([chunkIndex, 0, 0, 0], buf);
      pending.set(r, []);
    }
    chunkIndex++;
  };

  const window: SourceItem[] = [];
  let processed = 0;
  const drain = async () => {
    const digests = await Promise.all(window.map(itemDigest));
    const decoded = await Promise.all(window.map((item) => decodeItem(item, o)));
    for (let i = 0; i < window.length && kept < limit; i++) {
      const item = window[i];
      const digest = digests[i] ?? undefined;
      const d = decoded[i];
      const label = item.kind !== "error" ? item.label : undefined;
      if (!d.ok) {
        manifest.push({ name: item.name, digest, status: "skipped", reason: d.reason });
        continue;
      }
      if (digest && seen.has(digest)) {
        manifest.push({
          name: item.name,
          digest,
          status: "skipped",
          reason: `duplicate of ${seen.get(digest)}`,
        });
        continue;
      }
      if (digest) seen.set(digest, item.name);
      manifest.push({
        name: item.name,
        digest,
        status: "kept",
        index: kept,
        label,
        ...(d.note ? { reason: d.note } : {}),
      });
      if (label === undefined) allLabelled = false;
      else labels.push(label);
      for (const [r, img] of pyramid(d.pixels, o.resolution, channels)) pending.get(r)!.push(img);
      kept++;
      if (pending.get(levels[0])!.length === chunkSize) await flush(false);
    }
    processed = manifest.length;
    o.onProgress?.(processed, `${kept} kept`);
    window.length = 0;
  };
  for await (const item of readSource(o.source)) {
    if (kept >= limit) break;
    window.push(item);
    if (window.length >= concurrency * 8) await drain();
  }
  await drain();
  const reasons: Record<string, number> = {};
  for (const m of manifest) {
    if (m.status === "skipped") {
      const key = m.reason!.replace(/ \(.*\)$/, "").replace(/^duplicate of .*/, "duplicate");
      reasons[key] = (reasons[key] ?? 0) + 1;
    }
  }
  const summary = { kept, skipped: manifest.length - kept, reasons, levels };
  await Deno.writeTextFile(
    join(o.out, "manifest.json"),
    JSON.stringify({ summary, items: manifest }, null, 1),
  );
  if (kept === 0) {
    const why = Object.entries(reasons).map(([k, v]) => `${v} ${k}`).join(", ") || "it is empty";
    throw new Error(`no usable images in ${describe(o.source)}: ${why}`);
  }
  await flush(true);
  for (const r of levels) {
    await ArrayWriter.create(o.out, `images/${r}`, format, {
      shape: [kept, r, r, channels],
      chunks: [chunkSize, r, r, channels],
      dtype: "uint8",
      attributes: { resolution: r, range: [0, 255] },
    });
  }
  if (allLabelled) {
    const lw = await ArrayWriter.create(o.out, "labels", format, {
      shape: [kept],
      chunks: [kept],
      dtype: "int32",
    });
    await lw.writeChunk([0], Int32Array.from(labels));
  }
  await createGroup(o.out, "images", format, {});
  await createGroup(o.out, "", format, {
    ganflow: "image-pyramid",
    resolution: o.resolution,
    levels,
    count: kept,
    source: describe(o.source),
    summary,
  });
  return summary;
}

function describe(s: SourceSpec): string {
  if (s.kind === "idx") return `IDX ${s.images}`;
  if (s.kind === "folder") return `folder ${s.path}`;
  if (s.kind === "archive") return `archive ${s.path}`;
  if (s.kind === "mnist" || s.kind === "fashion-mnist") return `${s.kind} (${s.split ?? "train"})`;
  return `procedural(${s.count}, seed ${s.seed})`;
}
