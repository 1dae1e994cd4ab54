/**
 * `deno task docs-pictures`: makes the README's pictures from real runs. Runs the default pipeline
 * into a store (a temporary one unless `--store` names one; a store that already holds the run
 * computes nothing), screenshots its report in headless Chromium as docs/report.png, then runs a
 * two-combination matrix (one-stage vs two-stage training, `--matrix-steps` generator steps, on
 * the same store, so the dataset, autoencoder and real-image statistics are shared) and
 * screenshots its comparison page as docs/matrix.png. Both are scaled down so each stays small.
 *
 *   deno task docs-pictures [--store DIR] [--out DIR] [--matrix-steps N] [--keep-store]
 */
import { join, resolve } from "node:path";
import sharp from "sharp";
import { parseArgs } from "node:util";
import { hasChromium, launchChromium } from "../tests/browser.ts";

interface Options {
  /** Store to run in; null: a temporary one, removed at the end unless `keepStore`. */
  store: string | null;
  /** Where the PNGs go. */
  out: string;
  /** Generator steps of each matrix combination (the picture needs little training). */
  matrixSteps: number;
  keepStore: boolean;
}

const ROOT = resolve(new URL("..", import.meta.url).pathname);
/**
 * CSS width of the browser window: wide enough that the pages lay their figures side by side.
 * The PNG keeps only the page's content, scaled to at most `PNG_WIDTH` pixels wide.
 */
const VIEW_WIDTH = 1600;
const PNG_WIDTH = 900;
/** Longest page kept, in CSS pixels. */
const MAX_HEIGHT = 4000;

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      store: { type: "string" },
      out: { type: "string" },
      "matrix-steps": { type: "string" },
      "keep-store": { type: "boolean" },
    },
  });
  const steps = Number(values["matrix-steps"] ?? 600);
  if (!Number.isInteger(steps) || steps < 1) {
    throw new Error(`--matrix-steps must be a positive integer, not "${values["matrix-steps"]}"`);
  }
  return {
    store: values.store ? resolve(values.store) : null,
    out: resolve(values.out ?? join(ROOT, "docs")),
    matrixSteps: steps,
    keepStore: values["keep-store"] ?? false,
  };
}

/** Runs the pipeline CLI with `args`, its output passed through; throws when it fails. */
async function pipeline(args: string[]): Promise<void> {
  console.log(`$ deno task pipeline ${args.join(" ")}`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "main.ts"), ...args],
    cwd: ROOT,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) throw new Error(`deno task pipeline ${args.join(" ")} exited with ${code}`);
}

/** Screenshots `html` (a file): its content, at most MAX_HEIGHT tall, as a scaled PNG. */
async function screenshot(html: string, png: string): Promise<void> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: VIEW_WIDTH, height: 800 } });
    await page.goto(`file://${html}`, { waitUntil: "load" });
    // Page-side code as a string: it runs in the browser, not under Deno's type checker.
    const box = await page.evaluate(`(() => {
      const rects = [...document.body.children].map((e) => e.getBoundingClientRect());
      const left = Math.min(...rects.map((r) => r.left)), right = Math.max(...rects.map((r) => r.right));
      return [left, right, document.documentElement.scrollHeight];
    })()`) as number[];
    const [left, right, height] = box;
    const margin = 16;
    const x = Math.max(0, Math.floor(left - margin));
    const shot = await page.screenshot({
      fullPage: true,
      clip: {
        x,
        y: 0,
        width: Math.min(VIEW_WIDTH, Math.ceil(right + margin)) - x,
        height: Math.min(height, MAX_HEIGHT),
      },
    });
    const small = await sharp(shot).resize({ width: PNG_WIDTH, withoutEnlargement: true })
      .png({ palette: true, quality: 90, compressionLevel: 9 }).toBuffer();
    await Deno.writeFile(png, small);
    console.log(`wrote ${png} (${(small.length / 1024).toFixed(0)} KiB)`);
  } finally {
    await browser.close();
  }
}

async function main(o: Options): Promise<void> {
  if (!hasChromium) throw new Error("docs-pictures needs Chromium at /usr/bin/chromium");
  const store = o.store ?? await Deno.makeTempDir({ prefix: "ganflow-docs-" });
  await Deno.mkdir(o.out, { recursive: true });
  try {
    await pipeline(["run", "--store", store]);
    await screenshot(join(store, "out", "report", "report.html"), join(o.out, "report.png"));

    const page = join(store, "matrix.html");
    await pipeline([
      "matrix",
      "evaluate",
      "--store",
      store,
      "--set",
      `train-generator.steps=${o.matrixSteps}`,
      // Six points on the SWD-over-training chart.
      "--set",
      `train-generator.sampleEvery=${Math.max(1, Math.round(o.matrixSteps / 6))}`,
      "--vary",
      "train-generator.schedule=two-stage,one-stage",
      "--html",
      page,
    ]);
    await screenshot(page, join(o.out, "matrix.png"));
  } finally {
    if (!o.store && !o.keepStore) await Deno.remove(store, { recursive: true });
    else console.log(`store kept at ${store}`);
  }
}

if (import.meta.main) {
  try {
    await main(parseOptions(Deno.args));
    // playwright-core can keep a pipe open after the browser closed.
    Deno.exit(0);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
