import sharp from "sharp";
import { join } from "node:path";
import { assert, assertAllClose, assertEquals, assertRejects } from "../tests/assert.ts";
import {
  decodeWithSharp,
  levelsFor,
  prepareDataset,
  type PrepareOptions,
  pyramid,
  rawAtTarget,
} from "./prepare.ts";
import { mnistFiles, parseIdx } from "./idx.ts";
import type { SourceItem } from "./source_item.ts";
import { readWholeArray } from "./zarr_io.ts";
import { openImageBatches } from "./image_batches.ts";
import { decompress } from "fzstd";

Deno.test("pyramid: constant image stays constant, a 1px checkerboard averages to 127.5 -> 128", () => {
  const res = 16;
  const flat = new Uint8Array(res * res * 3).fill(77);
  for (const [r, img] of pyramid(flat, res, 3)) assert(img.every((v) => v === 77), `level ${r}`);
  const board = new Uint8Array(res * res * 3);
  for (let y = 0; y < res; y++) {
    for (let x = 0; x < res; x++) {
      board.fill((x + y) % 2 ? 255 : 0, (y * res + x) * 3, (y * res + x + 1) * 3);
    }
  }
  const levels = pyramid(board, res, 3);
  assertEquals([...levels.keys()], [16, 8, 4]);
  assert(levels.get(8)!.every((v) => v === 128)); // rint(127.5) = 128
  assert(levels.get(4)!.every((v) => v === 128)); // the float chain keeps 127.5, not 128
  assertEquals(levelsFor(32), [32, 16, 8, 4]);
});

async function png(w: number, h: number, fill: (x: number, y: number) => number[], channels = 3) {
  const px = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) px.set(fill(x, y), (y * w + x) * channels);
  }
  return new Uint8Array(
    await sharp(px, { raw: { width: w, height: h, channels: channels as 3 } }).png().toBuffer(),
  );
}

Deno.test("raw pixels at the target size skip libvips and give its bytes; others go to libvips", async () => {
  const idx = parseIdx(await Deno.readFile(mnistFiles("test").images));
  const raw = (name: string, side: number, channels: number, pixels: Uint8Array): SourceItem => ({
    name,
    kind: "pixels",
    width: side,
    height: side,
    channels,
    pixels,
  });
  const digit = (i: number) => raw(`${i}`, 28, 1, idx.data.subarray(i * 784, (i + 1) * 784));
  // Every gray level, and an RGB image with distinct channels.
  const ramp = raw("ramp", 16, 1, Uint8Array.from({ length: 256 }, (_, i) => i));
  const rgb = raw("rgb", 8, 3, Uint8Array.from({ length: 192 }, (_, i) => (i * 37) % 256));
  // What prepareDataset is given (its source and output are not read by the decoders).
  const opts = (resolution: number, more: Partial<PrepareOptions> = {}): PrepareOptions => ({
    source: { kind: "procedural", count: 1, size: resolution, seed: 0 },
    out: "",
    resolution,
    ...more,
  });
  const cases: [SourceItem, PrepareOptions][] = [
    ...[0, 1, 2, 3, 77].map((i): [SourceItem, PrepareOptions] => [digit(i), opts(32, { pad: 2 })]),
    [ramp, opts(16)],
    [ramp, opts(16, { channels: 1 })],
    [rgb, opts(12, { pad: 2 })],
  ];
  for (const [item, o] of cases) {
    const fast = rawAtTarget(item, o), slow = await decodeWithSharp(item, o);
    assert(fast?.ok && slow.ok, `${item.name}: both decode`);
    assertEquals(fast.pixels, slow.pixels, `${item.name} at ${o.resolution}`);
  }
  // Resizing, luminance from RGB and explicit crops are libvips' work.
  assertEquals(rawAtTarget(digit(0), opts(32)), null);
  assertEquals(rawAtTarget(rgb, opts(8, { channels: 1 })), null);
  assertEquals(
    rawAtTarget(rgb, opts(8, { crop: { left: 0, top: 0, width: 8, height: 8 } })),
    null,
  );
});

Deno.test("bad inputs are skipped with their reasons, good ones kept, nothing written outside", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ganflow-src-" });
  const outside = await Deno.makeTempDir({ prefix: "ganflow-outside-" });
  const out = await Deno.makeTempDir({ prefix: "ganflow-out-" });
  try {
    const good = await png(20, 12, (x) => [x * 10, 50, 200]);
    await Deno.writeFile(join(dir, "a_good.png"), good);
    await Deno.writeFile(join(dir, "b_dup.png"), good);
    await Deno.writeFile(join(dir, "c_empty.png"), new Uint8Array());
    await Deno.writeFile(join(dir, "d_corrupt.jpg"), new Uint8Array([1, 2, 3, 4, 5]));
    await Deno.writeFile(join(dir, "e_truncated.png"), good.subarray(0, good.length - 30));
    await Deno.writeFile(join(dir, "f_small.png"), await png(4, 4, () => [1, 2, 3]));
    await Deno.writeFile(join(dir, "g_renamed.jpg"), await png(16, 16, () => [9, 9, 9]));
    await Deno.writeFile(join(dir, "h_big.png"), await png(300, 300, () => [5, 6, 7]));
    await Deno.writeTextFile(join(dir, "notes.txt"), "not an image");
    await Deno.writeFile(join(outside, "secret.png"), await png(16, 16, () => [1, 1, 1]));
    await Deno.symlink(join(outside, "secret.png"), join(dir, "i_link.png"));
    await Deno.mkdir(join(dir, "sub"));
    await Deno.writeFile(join(dir, "sub", "j_gray.png"), await png(16, 16, (x) => [x * 16], 1));
    const summary = await prepareDataset({
      source: { kind: "folder", path: dir },
      resolution: 8,
      maxPixels: 200 * 200,
      out,
      format: 3,
    });
    const m = JSON.parse(await Deno.readTextFile(join(out, "manifest.json")));
    const by = Object.fromEntries(m.items.map((i: { name: string }) => [i.name, i]));
    assertEquals(by["a_good.png"].status, "kept");
    assertEquals(by["b_dup.png"].reason, "duplicate of a_good.png");
    assertEquals(by["c_empty.png"].reason, "empty file (0 bytes)");
    assert(
      by["d_corrupt.jpg"].reason.startsWith("corrupt or truncated image"),
      by["d_corrupt.jpg"].reason,
    );
    assert(
      by["e_truncated.png"].reason.startsWith("corrupt or truncated image"),
      by["e_truncated.png"].reason,
    );
    assertEquals(by["f_small.png"].reason, "smaller than the target (4x4 < 8)");
    assertEquals(by["g_renamed.jpg"].status, "kept"); // good data is never lost...
    assertEquals(by["g_renamed.jpg"].reason, "extension .jpg but the content is png"); // ...but noted
    assertEquals(by["h_big.png"].reason, "decompression bomb (over the pixel limit)");
    assertEquals(by["i_link.png"].reason, "symlink pointing outside the source");
    assertEquals(by["notes.txt"].reason, "not an image extension");
    assertEquals(by["sub/j_gray.png"].status, "kept");
    assertEquals(summary.kept, 3);
    assertEquals(summary.reasons["duplicate"], 1);
    const imgs = await readWholeArray(out, "images/8");
    assertEquals(imgs.shape, [3, 8, 8, 3]);
    // The gray image became RGB with equal channels.
    const gray = imgs.data.subarray(2 * 192, 3 * 192);
    for (let i = 0; i < 64; i++) {
      assert(gray[3 * i] === gray[3 * i + 1] && gray[3 * i] === gray[3 * i + 2]);
    }
    // g_renamed is a constant 9 image: constant through Lanczos and the pyramid.
    assert(imgs.data.subarray(192, 384).every((v) => v === 9));
    const outsideFiles = [...Deno.readDirSync(outside)].map((e) => e.name);
    assertEquals(outsideFiles, ["secret.png"]);
  } finally {
    for (const d of [dir, outside, out]) await Deno.remove(d, { recursive: true });
  }
});

Deno.test("zero usable images -> a clear error naming the source", async () => {
  const dir = await Deno.makeTempDir();
  const out = await Deno.makeTempDir();
  try {
    await Deno.writeFile(join(dir, "x.png"), new Uint8Array());
    await assertRejects(
      () => prepareDataset({ source: { kind: "folder", path: dir }, resolution: 8, out }),
      `no usable images in folder ${dir}: 1 empty file`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("MNIST 28 -> 32 padded RGB, labels; v3 chunks re-read through raw files + metadata", async () => {
  const out = await Deno.makeTempDir();
  try {
    const s = await prepareDataset({
      source: { kind: "idx", ...mnistFiles("test"), limit: 300 },
      resolution: 32,
      pad: 2,
      out,
      chunkSize: 128,
    });
    assertEquals(s.kept, 300);
    const { data, shape } = await readWholeArray(out, "images/32");
    assertEquals(shape, [300, 32, 32, 3]);
    // Independent path: raw idx bytes vs stored pixels, read from the chunk file ourselves.
    const meta = JSON.parse(await Deno.readTextFile(join(out, "images/32/zarr.json")));
    assertEquals(meta.fill_value, 0);
    assertEquals(meta.codecs.map((c: { name: string }) => c.name), ["bytes", "zstd"]);
    const raw = decompress(await Deno.readFile(join(out, "images/32/c/1/0/0/0")));
    const idx = await Deno.readFile(mnistFiles("test").images);
    const sample = 130; // chunk 1, row 2
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const v = idx[16 + sample * 784 + y * 28 + x];
        const o = ((2 * 32 + y + 2) * 32 + x + 2) * 3;
        assertEquals([raw[o], raw[o + 1], raw[o + 2]], [v, v, v]);
        assertEquals(data[sample * 3072 + ((y + 2) * 32 + x + 2) * 3], v);
      }
    }
    assertEquals(raw[(2 * 32 * 32) * 3], 0); // padding is black
    const labels = await readWholeArray(out, "labels");
    const lab = await Deno.readFile(mnistFiles("test").labels);
    assertEquals([...labels.data.subarray(0, 20)], [...lab.subarray(8, 28)]);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("reader: batches deterministic per seed, different across seeds, values in [-1, 1]", async () => {
  const out = await Deno.makeTempDir();
  try {
    await prepareDataset({
      source: { kind: "procedural", count: 50, size: 16, seed: 3 },
      resolution: 16,
      out,
      chunkSize: 16,
    });
    const a = await openImageBatches({ store: out, resolution: 8, batchSize: 7, seed: 1 });
    const b = await openImageBatches({
      store: out,
      resolution: 8,
      batchSize: 7,
      seed: 1,
      prefetch: false,
    });
    const c = await openImageBatches({ store: out, resolution: 8, batchSize: 7, seed: 2 });
    const a5 = await a.batch(5), b5 = await b.batch(5), c5 = await c.batch(5);
    assertAllClose(a5, b5, { rtol: 0, atol: 0 });
    assert(a5.some((v, i) => v !== c5[i]));
    assert(a5.every((v) => v >= -1 && v <= 1));
    // Step 7 covers samples 49 and 0..5 of epoch 1: every sample of an epoch appears once.
    const seen = new Set<string>();
    for (let s = 0; s < 7; s++) {
      const batch = await b.batch(s);
      for (let j = 0; j < 7 && s * 7 + j < 49; j++) {
        seen.add(batch.subarray(j * 192, (j + 1) * 192).join());
      }
    }
    assertEquals(seen.size, 49);
    await Promise.all([a.close(), b.close(), c.close()]);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

const hasPyZarr = (() => {
  try {
    return new Deno.Command("/usr/bin/python3", { args: ["-c", "import zarr"] }).outputSync()
      .code === 0;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "format 2 store opens in Debian's python3-zarr (an independent reader) with equal arrays",
  ignore: !hasPyZarr,
  async fn() {
    const out = await Deno.makeTempDir();
    try {
      await prepareDataset({
        source: { kind: "procedural", count: 20, size: 16, seed: 9 },
        resolution: 16,
        out,
        format: 2,
        chunkSize: 8,
      });
      const ours = await readWholeArray(out, "images/8");
      const py = new Deno.Command("/usr/bin/python3", {
        args: [
          "-c",
          `import zarr,sys,hashlib; g=zarr.open_group(sys.argv[1],'r'); a=g['images/8'][:]; print(a.shape, hashlib.sha256(a.tobytes()).hexdigest(), list(g['labels'][:5]))`,
          out,
        ],
      }).outputSync();
      const text = new TextDecoder().decode(py.stdout).trim();
      assertEquals(py.code, 0, new TextDecoder().decode(py.stderr));
      const digest = Array.from(
        new Uint8Array(await crypto.subtle.digest("SHA-256", ours.data as Uint8Array<ArrayBuffer>)),
      )
        .map((b) => b.toString(16).padStart(2, "0")).join("");
      assertEquals(text, `(20, 8, 8, 3) ${digest} [0, 1, 2, 3, 4]`);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
if (!hasPyZarr) {
  console.log("note: /usr/bin/python3 cannot import zarr; the v2 interop test is skipped");
}

Deno.test("archives are read in place: zip-slip, absolute and symlink entries skipped, nothing extracted", async () => {
  const { zipSync } = await import("fflate");
  const good = await png(16, 16, (x, y) => [x * 8, y * 8, 100]);
  const other = await png(16, 16, () => [200, 10, 10]);
  const dir = await Deno.makeTempDir({ prefix: "ganflow-arc-" });
  const out = join(dir, "out");
  try {
    const zip = zipSync({
      "imgs/a.png": good,
      "../evil.png": other,
      "/abs.png": other,
      "imgs/readme.txt": new TextEncoder().encode("hi"),
    });
    await Deno.writeFile(join(dir, "set.zip"), zip);
    const s = await prepareDataset({
      source: { kind: "archive", path: join(dir, "set.zip") },
      resolution: 8,
      out,
    });
    const m = JSON.parse(await Deno.readTextFile(join(out, "manifest.json")));
    const by = Object.fromEntries(
      m.items.map((i: { name: string; reason?: string; status: string }) => [i.name, i]),
    );
    assertEquals(s.kept, 1);
    assertEquals(by["../evil.png"].reason, "path escapes the archive (..)");
    assertEquals(by["/abs.png"].reason, "absolute path in archive");
    assertEquals(by["imgs/readme.txt"].reason, "not an image extension");
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(names, ["out", "set.zip"]); // nothing written beside the archive
    assert(!(await Deno.stat(join(dir, "..", "evil.png")).then(() => true, () => false)));
    // A tar with a symlink entry and a regular file, built by the system tar.
    const tdir = join(dir, "t");
    await Deno.mkdir(tdir);
    await Deno.writeFile(join(tdir, "b.png"), good);
    await Deno.symlink("/etc/passwd", join(tdir, "link.png"));
    const tar = await new Deno.Command("tar", {
      args: ["-czf", join(dir, "set.tar.gz"), "-C", tdir, "b.png", "link.png"],
    }).output();
    assertEquals(tar.code, 0);
    const out2 = join(dir, "out2");
    await prepareDataset({
      source: { kind: "archive", path: join(dir, "set.tar.gz") },
      resolution: 8,
      out: out2,
    });
    const m2 = JSON.parse(await Deno.readTextFile(join(out2, "manifest.json")));
    assertEquals(
      m2.items.map((
        i: { name: string; status: string; reason?: string },
      ) => [i.name, i.status, i.reason]),
      [
        ["b.png", "kept", undefined],
        ["link.png", "skipped", "symlink in archive"],
      ],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
