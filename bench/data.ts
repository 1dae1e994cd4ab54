/**
 * `deno task bench data [--n=1000] [--keep]`: dataset preparation throughput. Generates N
 * 1024x1024 JPEGs, runs `prepareDataset` to a 128x128 pyramid (128..4, Zarr v3) and, on the same
 * files, libvips' own `vipsthumbnail` to 128x128 centre crops as the baseline. Prints images/s
 * for both and their ratio; figures depend on how loaded the shared CPU is, so quote the ratio.
 */
import sharp from "sharp";
import { join } from "node:path";
import { prepareDataset } from "../data/prepare.ts";
import { flag, numberFlag } from "./flags.ts";

interface DataBenchOptions {
  count: number;
  size: number;
  resolution: number;
  keep: boolean;
}

function parseArgs(args: string[]): DataBenchOptions {
  const count = numberFlag(args, "n", 1000);
  if (!Number.isInteger(count) || count < 1) {
    throw new Error(`--n must be a positive integer, got ${flag(args, "n")}`);
  }
  return { count, size: 1024, resolution: 128, keep: args.includes("--keep") };
}

/** Smooth colour gradients plus per-image noise: compresses like a photo, not like a flat fill. */
async function writeJpegs(dir: string, o: DataBenchOptions): Promise<void> {
  const s = o.size;
  const base = new Uint8Array(s * s * 3);
  for (let y = 0; y < s; y++) {
    for (let x = 0; x < s; x++) {
      const i = (y * s + x) * 3;
      base[i] = (x * 255) / s;
      base[i + 1] = (y * 255) / s;
      base[i + 2] = ((x + y) * 127) / s;
    }
  }
  let seed = 12345;
  for (let n = 0; n < o.count; n++) {
    const px = new Uint8Array(base);
    for (let i = 0; i < px.length; i += 7) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      px[i] = (px[i] + (seed >>> 24) % 64) & 255;
    }
    await sharp(px, { raw: { width: s, height: s, channels: 3 } }).jpeg({ quality: 90 })
      .toFile(join(dir, `img${String(n).padStart(5, "0")}.jpg`));
  }
}

async function timeVipsThumbnail(
  files: string[],
  outDir: string,
  res: number,
): Promise<number | null> {
  const start = performance.now();
  // Batches keep the command line short; vipsthumbnail processes files in order.
  for (let i = 0; i < files.length; i += 100) {
    try {
      const r = await new Deno.Command("vipsthumbnail", {
        args: [
          "-s",
          `${res}x${res}`,
          "-m",
          "centre",
          "-o",
          join(outDir, "%s.png"),
          ...files.slice(i, i + 100),
        ],
        stderr: "piped",
      }).output();
      if (!r.success) {
        console.error(`vipsthumbnail failed: ${new TextDecoder().decode(r.stderr).slice(0, 300)}`);
        return null;
      }
    } catch (e) {
      console.error(`vipsthumbnail unavailable (${(e as Error).message}); install libvips-tools`);
      return null;
    }
  }
  return (performance.now() - start) / 1000;
}

export async function benchData(args: string[]): Promise<void> {
  const o = parseArgs(args);
  const dir = await Deno.makeTempDir({ prefix: "ganflow-bench-data-" });
  try {
    const src = join(dir, "src");
    await Deno.mkdir(src);
    let t = performance.now();
    await writeJpegs(src, o);
    console.log(
      `generated ${o.count} ${o.size}x${o.size} JPEGs in ${
        ((performance.now() - t) / 1000).toFixed(1)
      } s`,
    );

    t = performance.now();
    const summary = await prepareDataset({
      source: { kind: "folder", path: src },
      resolution: o.resolution,
      out: join(dir, "zarr"),
    });
    const ours = (performance.now() - t) / 1000;
    if (summary.kept !== o.count) throw new Error(`prepare kept ${summary.kept} of ${o.count}`);

    const thumbs = join(dir, "thumbs");
    await Deno.mkdir(thumbs);
    const files = [...Deno.readDirSync(src)].map((e) => join(src, e.name)).sort();
    const vips = await timeVipsThumbnail(files, thumbs, o.resolution);

    const rate = (s: number) => (o.count / s).toFixed(1);
    console.log(
      `prepareDataset (decode + Lanczos + ${summary.levels.length}-level pyramid + Zarr): ` +
        `${rate(ours)} images/s (${ours.toFixed(2)} s)`,
    );
    if (vips !== null) {
      console.log(
        `vipsthumbnail (decode + shrink + PNG, one level): ${rate(vips)} images/s (${
          vips.toFixed(2)
        } s)`,
      );
      console.log(`ratio prepareDataset / vipsthumbnail throughput: ${(vips / ours).toFixed(2)}x`);
    }
    console.log("(measured on a shared, loaded CPU: compare the ratio, not absolute rates)");
  } finally {
    if (o.keep) console.log(`kept files in ${dir}`);
    else await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await benchData(Deno.args);
