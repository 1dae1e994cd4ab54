/**
 * Opens a rendered report in a real headless browser (Debian's chromium via playwright-core)
 * and checks what a person would see: decoded images, the metrics table, the charts.
 * Set GANFLOW_SCREENSHOT=/tmp/x.png to also save a full-page screenshot for a visual check.
 */
import { hasChromium, launchChromium } from "../browser.ts";
import sharp from "sharp";
import { join } from "node:path";
import { assertEquals } from "../assert.ts";
import { renderReport } from "../../report/html.ts";

if (!hasChromium) {
  console.log("note: /usr/bin/chromium not installed; the browser test is skipped");
}

/** A width x height RGB gradient PNG made by sharp, standing in for a sample grid. */
async function gridPng(width: number, height: number): Promise<Uint8Array> {
  const px = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      px.set([(x * 255) / width, (y * 255) / height, ((x ^ y) & 8) * 16], (y * width + x) * 3);
    }
  }
  const png = await sharp(px, { raw: { width, height, channels: 3 } }).png().toBuffer();
  return new Uint8Array(png);
}

Deno.test({
  name: "report renders in headless chromium: grids decoded, metrics table and charts present",
  ignore: !hasChromium,
  // playwright-core keeps a pipe and timers open until the browser process is reaped.
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const [samples, originals, recons] = await Promise.all([
      gridPng(136, 136),
      gridPng(96, 64),
      gridPng(96, 64),
    ]);
    const steps = Array.from({ length: 300 }, (_, i) => i + 1);
    const html = renderReport({
      title: "ganflow test report",
      subtitle: "latent-space GAN at 32x32 (synthetic data for the browser test)",
      images: [{ title: "Samples", png: samples, id: "samples" }],
      reconstructions: [{
        title: "Autoencoder reconstructions",
        originals,
        reconstructions: recons,
        id: "recon",
      }],
      charts: [{
        title: "GAN losses",
        xLabel: "step",
        yLabel: "loss",
        series: [
          {
            name: "D",
            points: steps.map((s) => [s, 1.4 * Math.exp(-s / 150) + 0.05 * Math.sin(s)]),
          },
          { name: "G", points: steps.map((s) => [s, 0.7 + 0.3 * (1 - Math.exp(-s / 80))]) },
        ],
      }, {
        title: "Autoencoder L1",
        xLabel: "step",
        yLabel: "L1",
        logY: true,
        series: [{ name: "L1 <held-out>", points: steps.map((s) => [s, 0.5 / Math.sqrt(s)]) }],
      }],
      checkpointCharts: [{
        title: "SWD average over checkpoints",
        xLabel: "step",
        yLabel: "SWD x1e3",
        series: [{ name: "model", points: [[100, 40], [200, 22], [300, 15]] }, {
          name: "Reals2",
          points: [[100, 3], [300, 3]],
        }],
      }],
      metrics: [
        { name: "SWD x1e3 @32", model: 12.3456, reals2: 2.5 },
        { name: "SWD x1e3 average", model: 123.456, reals2: 7.89 },
        { name: "FID", model: null, reals2: null, note: "no weights" },
      ],
      stages: [
        { stage: "prepare", status: "cached", seconds: 1.5, key: "abcdef0123456789" },
        { stage: "train-generator", status: "computed", seconds: 42, key: "0011223344556677" },
      ],
      notes: ["FID skipped: put weights at <cache>/inception.bin"],
    });
    const dir = await Deno.makeTempDir();
    const path = join(dir, "report.html");
    await Deno.writeTextFile(path, html);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const external: string[] = [];
      page.on("request", (r) => {
        if (!/^(file|data):/.test(r.url())) external.push(r.url());
      });
      await page.goto(`file://${path}`, { waitUntil: "load" });
      // Page-side code as strings: it runs in the browser, not under Deno's type checker.
      const widths = await page.evaluate(
        `[...document.querySelectorAll("figure img")].map((i) => i.complete ? i.naturalWidth : -1)`,
      );
      assertEquals(widths, [136, 96, 96]);
      // Shown enlarged by whole factors: 136 px x2, 96 px x3.
      const shown = await page.evaluate(
        `[...document.querySelectorAll("figure img")].map((i) => i.getBoundingClientRect().width)`,
      );
      assertEquals(shown, [272, 288, 288]);
      const rows = await page.evaluate(
        `[...document.querySelectorAll("#metrics tbody tr")].map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent))`,
      );
      assertEquals(rows, [
        ["SWD x1e3 @32", "12.35", "2.500", ""],
        ["SWD x1e3 average", "123.5", "7.890", ""],
        ["FID", "—", "—", "no weights"],
      ]);
      const stageCells = await page.evaluate(
        `[...document.querySelectorAll("#stages tbody tr")].map((r) => r.cells[3].textContent)`,
      );
      assertEquals(stageCells, ["abcdef012345", "001122334455", ""]);
      // Three charts, each laid out with a real size and its legend text.
      const charts = await page.evaluate(
        `[...document.querySelectorAll("svg.chart")].map((s) => [s.getBoundingClientRect().width, s.querySelectorAll("path").length, [...s.querySelectorAll("text.legend")].map((t) => t.textContent).join("|")])`,
      );
      assertEquals(charts, [
        [560, 2, "model|Reals2"],
        [560, 2, "D|G"],
        [560, 1, "L1 <held-out>"],
      ]);
      const note = await page.evaluate(`document.querySelector(".notes li").textContent`);
      assertEquals(note, "FID skipped: put weights at <cache>/inception.bin");
      assertEquals(external, []);
      const shot = Deno.env.get("GANFLOW_SCREENSHOT");
      if (shot) await page.screenshot({ path: shot, fullPage: true });
    } finally {
      await browser.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
