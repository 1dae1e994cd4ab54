/** Images out: [-1, 1] floats to bytes, sample grids, PNG files (sharp). */
import sharp from "sharp";

export function floatToUint8(x: Float32Array): Uint8Array {
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) {
    out[i] = Math.min(255, Math.max(0, Math.round((x[i] + 1) * 127.5)));
  }
  return out;
}

/** Lays out n HxWxC images (NHWC floats in [-1,1]) in a grid with a 1px dark border. */
export function imageGrid(
  images: Float32Array,
  n: number,
  h: number,
  w: number,
  c: number,
  cols: number,
): { pixels: Uint8Array; width: number; height: number; channels: number } {
  if (!(cols >= 1 && Number.isInteger(cols))) {
    throw new Error(`imageGrid: cols must be >= 1, got ${cols}`);
  }
  if (images.length < n * h * w * c) {
    throw new Error(`imageGrid: ${images.length} values cannot hold ${n} images of ${h}x${w}x${c}`);
  }
  const rows = Math.ceil(n / cols);
  const width = cols * (w + 1) + 1;
  const height = rows * (h + 1) + 1;
  const pixels = new Uint8Array(width * height * 3).fill(32);
  const bytes = floatToUint8(images);
  for (let i = 0; i < n; i++) {
    const ox = 1 + (i % cols) * (w + 1);
    const oy = 1 + Math.floor(i / cols) * (h + 1);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const src = ((i * h + y) * w + x) * c;
        const dst = ((oy + y) * width + ox + x) * 3;
        for (let k = 0; k < 3; k++) {
          pixels[dst + k] = bytes[src + (c === 1 ? 0 : Math.min(k, c - 1))];
        }
      }
    }
  }
  return { pixels, width, height, channels: 3 };
}

export async function encodePng(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: number,
  upscale = 1,
): Promise<Uint8Array> {
  if (![1, 3, 4].includes(channels)) {
    throw new Error(`encodePng: channels must be 1, 3 or 4, got ${channels}`);
  }
  if (pixels.length !== width * height * channels) {
    throw new Error(
      `encodePng: ${pixels.length} bytes do not match ${width}x${height}x${channels} (${
        width * height * channels
      })`,
    );
  }
  let img = sharp(pixels, { raw: { width, height, channels: channels as 1 | 3 | 4 } });
  if (upscale > 1) img = img.resize(width * upscale, height * upscale, { kernel: "nearest" });
  return new Uint8Array(await img.png().toBuffer());
}

export async function writePng(
  path: string,
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: number,
  upscale = 1,
): Promise<void> {
  await Deno.writeFile(path, await encodePng(pixels, width, height, channels, upscale));
}
