import sharp from "sharp";
import { join } from "node:path";
import { assert, assertEquals } from "../tests/assert.ts";
import { prepareDataset } from "./prepare.ts";
import { readWholeArray } from "./zarr_io.ts";
import { mnistFiles } from "./idx.ts";

const fixtures = new URL("../tests/fixtures/data/", import.meta.url).pathname;

/** Decompresses with the web platform's gzip, independently of data/idx.ts. */
async function gunzip(path: string): Promise<Uint8Array> {
  const stream = (await Deno.open(path)).readable.pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("resize matches PIL's Lanczos on a centre-cropped 64x48 PNG (fixture by make_lanczos_fixture.py)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "src"));
    await Deno.copyFile(join(fixtures, "lanczos_src.png"), join(dir, "src", "a.png"));
    const s = await prepareDataset({
      source: { kind: "folder", path: join(dir, "src") },
      resolution: 16,
      out: join(dir, "out"),
    });
    assertEquals(s.kept, 1);
    const ref = JSON.parse(await Deno.readTextFile(join(fixtures, "lanczos_16.json")));
    const { data, shape } = await readWholeArray(join(dir, "out"), "images/16");
    assertEquals(shape, [1, 16, 16, 3]);
    let maxDiff = 0, sumDiff = 0;
    for (let i = 0; i < ref.pixels.length; i++) {
      const d = Math.abs(data[i] - ref.pixels[i]);
      maxDiff = Math.max(maxDiff, d);
      sumDiff += d;
    }
    const meanDiff = sumDiff / ref.pixels.length;
    // Measured: max 1, mean 0.08 (rounding only). A linear kernel would give mean 3.6, nearest 12.9.
    assert(meanDiff < 0.5, `mean |sharp - PIL| = ${meanDiff.toFixed(2)} (max ${maxDiff})`);
    assert(maxDiff <= 2, `max |sharp - PIL| = ${maxDiff} (mean ${meanDiff.toFixed(2)})`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const fashionImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
const fashionLabels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
const hasFashionMnist = (() => {
  try {
    return Deno.statSync(fashionImages).isFile && Deno.statSync(fashionLabels).isFile;
  } catch {
    return false;
  }
})();
if (!hasFashionMnist) {
  console.log(
    "note: dataset-fashion-mnist is not installed; the fashion-mnist source test is ignored",
  );
}

Deno.test({
  name: "named fashion-mnist source: padded RGB pixels and labels equal the Debian idx.gz files",
  ignore: !hasFashionMnist,
  async fn() {
    const out = await Deno.makeTempDir();
    try {
      const n = 40;
      const s = await prepareDataset({
        source: { kind: "fashion-mnist", split: "test", limit: n },
        resolution: 32,
        pad: 2,
        out,
      });
      assertEquals(s.kept, n);
      const idx = await gunzip(fashionImages);
      const lab = await gunzip(fashionLabels);
      assertEquals(new DataView(idx.buffer).getUint32(4), 10000); // t10k holds 10000 images
      const { data, shape } = await readWholeArray(out, "images/32");
      assertEquals(shape, [n, 32, 32, 3]);
      for (const sample of [0, 17, n - 1]) {
        for (let y = 0; y < 32; y++) {
          for (let x = 0; x < 32; x++) {
            const inside = y >= 2 && y < 30 && x >= 2 && x < 30;
            const v = inside ? idx[16 + sample * 784 + (y - 2) * 28 + (x - 2)] : 0;
            const o = sample * 3072 + (y * 32 + x) * 3;
            assertEquals(
              [data[o], data[o + 1], data[o + 2]],
              [v, v, v],
              `sample ${sample} (${x},${y})`,
            );
          }
        }
      }
      const labels = await readWholeArray(out, "labels");
      assertEquals([...labels.data], [...lab.subarray(8, 8 + n)]);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test("named mnist source: same pixels as the idx source on the bundled files, labels from the raw file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const named = await prepareDataset({
      source: { kind: "mnist", split: "test", limit: 30 },
      resolution: 32,
      pad: 2,
      out: join(dir, "a"),
    });
    assertEquals(named.kept, 30);
    await prepareDataset({
      source: { kind: "idx", ...mnistFiles("test"), limit: 30 },
      resolution: 32,
      pad: 2,
      out: join(dir, "b"),
    });
    const a = await readWholeArray(join(dir, "a"), "images/8");
    const b = await readWholeArray(join(dir, "b"), "images/8");
    assertEquals(a.shape, [30, 8, 8, 3]);
    assertEquals([...a.data], [...b.data]);
    const lab = await Deno.readFile(mnistFiles("test").labels);
    assertEquals([...(await readWholeArray(join(dir, "a"), "labels")).data], [
      ...lab.subarray(8, 38),
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("channels: 1 stores luminance in linear light (closed form); limit stops after N kept images", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "src"));
    const rgb = [200, 100, 30];
    const px = new Uint8Array(8 * 8 * 3).map((_, i) => rgb[i % 3]);
    await sharp(px, { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(
      join(dir, "src", "a.png"),
    );
    const s = await prepareDataset({
      source: { kind: "folder", path: join(dir, "src") },
      resolution: 4,
      channels: 1,
      out: join(dir, "gray"),
    });
    assertEquals(s.kept, 1);
    // sRGB -> linear, Rec. 709 luminance, -> sRGB: the colour-managed grey of (200, 100, 30).
    const lin = (
      v: number,
    ) => ((v / 255) <= 0.04045 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4);
    const y = 0.2126 * lin(200) + 0.7152 * lin(100) + 0.0722 * lin(30);
    const expected = Math.round(255 * (1.055 * y ** (1 / 2.4) - 0.055));
    const { data, shape } = await readWholeArray(join(dir, "gray"), "images/4");
    assertEquals(shape, [1, 4, 4, 1]);
    for (const v of data) assert(Math.abs(v - expected) <= 1, `grey ${v}, expected ${expected}`);

    const m = await prepareDataset({
      source: { kind: "idx", ...mnistFiles("test") },
      resolution: 32,
      pad: 2,
      channels: 1,
      limit: 5,
      out: join(dir, "mnist"),
    });
    assertEquals(m.kept, 5);
    const manifest = JSON.parse(await Deno.readTextFile(join(dir, "mnist", "manifest.json")));
    assertEquals(manifest.items.length, 5);
    const idx = await Deno.readFile(mnistFiles("test").images);
    const stored = await readWholeArray(join(dir, "mnist"), "images/32");
    assertEquals(stored.shape, [5, 32, 32, 1]);
    for (let y0 = 0; y0 < 28; y0++) {
      for (let x0 = 0; x0 < 28; x0++) {
        assertEquals(
          stored.data[4 * 1024 + (y0 + 2) * 32 + x0 + 2],
          idx[16 + 4 * 784 + y0 * 28 + x0],
        );
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("palette, RGBA (flattened on black) and 16-bit PNGs are converted to 8-bit RGB", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const src = join(dir, "src");
    await Deno.mkdir(src);
    const solid = (c: number[], n = 8) =>
      new Uint8Array(n * n * c.length).map((_, i) => c[i % c.length]);
    const raw = (c: number[]) =>
      sharp(solid(c), { raw: { width: 8, height: 8, channels: c.length as 3 | 4 } });
    await raw([10, 200, 40]).png({ palette: true, colours: 4 }).toFile(join(src, "a_palette.png"));
    await raw([100, 50, 250, 255]).png().toFile(join(src, "b_rgba_opaque.png"));
    // Alpha 128 over black: each channel scales by 128/255 (straight alpha).
    await raw([200, 100, 50, 128]).png().toFile(join(src, "c_rgba_half.png"));
    await raw([33, 66, 99]).toColourspace("rgb16").png().toFile(join(src, "d_16bit.png"));
    const s = await prepareDataset({
      source: { kind: "folder", path: src },
      resolution: 4,
      out: join(dir, "out"),
    });
    assertEquals(s.kept, 4);
    const { data, shape } = await readWholeArray(join(dir, "out"), "images/4");
    assertEquals(shape, [4, 4, 4, 3]);
    const half = [200, 100, 50].map((v) => Math.round((v * 128) / 255));
    const expected = [[10, 200, 40], [100, 50, 250], half, [33, 66, 99]];
    for (let n = 0; n < 4; n++) {
      for (let p = 0; p < 16; p++) {
        const o = (n * 16 + p) * 3;
        const got = [data[o], data[o + 1], data[o + 2]];
        for (let k = 0; k < 3; k++) {
          assert(
            Math.abs(got[k] - expected[n][k]) <= 1,
            `image ${n}: got ${got}, expected ${expected[n]}`,
          );
        }
      }
    }
    // The inputs really are palette / 16-bit (so the test exercises the conversions).
    const meta = await sharp(join(src, "a_palette.png")).metadata();
    assertEquals((meta as { isPalette?: boolean }).isPalette, true);
    assertEquals((await sharp(join(src, "d_16bit.png")).metadata()).depth, "ushort");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("crop box selects source pixels; a box outside the image is a skip reason; upscaleSmall keeps small images", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const src = join(dir, "src");
    await Deno.mkdir(src);
    // 16x8: left half 10, right half 200, so the box decides the result exactly.
    const halves = new Uint8Array(16 * 8 * 3).map((
      _,
      i,
    ) => (Math.floor(i / 3) % 16 < 8 ? 10 : 200));
    await sharp(halves, { raw: { width: 16, height: 8, channels: 3 } }).png().toFile(
      join(src, "a_halves.png"),
    );
    await sharp(new Uint8Array(6 * 6 * 3).fill(77), { raw: { width: 6, height: 6, channels: 3 } })
      .png()
      .toFile(join(src, "b_small.png"));
    const s = await prepareDataset({
      source: { kind: "folder", path: src },
      resolution: 8,
      crop: { left: 8, top: 0, width: 8, height: 8 },
      out: join(dir, "box"),
    });
    assertEquals(s.kept, 1);
    assertEquals(s.reasons["crop box outside the 6x6 image"], 1);
    const box = await readWholeArray(join(dir, "box"), "images/8");
    assert(box.data.every((v) => v === 200), "the box covers only the right half");

    const up = await prepareDataset({
      source: { kind: "folder", path: src },
      resolution: 8,
      upscaleSmall: true,
      out: join(dir, "up"),
    });
    assertEquals(up.kept, 2);
    const small = (await readWholeArray(join(dir, "up"), "images/8")).data.subarray(8 * 8 * 3);
    assert(small.every((v) => v === 77), "a constant image stays constant when upscaled");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
