/**
 * Opens a rendered report in a real headless browser (Debian's chromium via playwright-core)
 * and checks what a person would see: decoded images, the metrics table, the charts.
 */
import { chromium } from "playwright-core";
import { join } from "node:path";
import { assert, assertEquals } from "../assert.ts";
import { renderReport } from "../../report/html.ts";
import { encodePng, imageGrid } from "../../data/image_io.ts";
import { Rng } from "../../nn/rng.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);
if (!hasChromium) console.log("note: /usr/bin/chromium not installed; the browser test is skipped");

Deno.test({
  name: "report renders in headless chromium: grids decoded, metrics table and charts present",
  ignore: !hasChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const rng = new Rng(1);
    const grid = (n: number) => {
      const g = imageGrid(rng.uniformArray(n * 8 * 8 * 3, -1, 1), n, 8, 8, 3, 4);
      return encodePng(g.pixels, g.width, g.height, 3).then((png) => ({ png, width: g.width }));
    };
    const [a, b] = await Promise.all([grid(8), grid(16)]);
    const html = renderReport({
      title: "test report",
      images: [{ title: "Samples", png: a.png, id: "samples" }, {
        title: "Reconstructions",
        png: b.png,
        id: "recon",
      }],
      charts: [{
        title: "losses",
        xLabel: "step",
        yLabel: "loss",
        series: [{ name: "D", points: [[1, 2], [2, 1]] }],
      }],
      metrics: [{ name: "SWD x1e3 average", model: 123.456, reals2: 7.89 }, {
        name: "FID",
        model: null,
        reals2: null,
        note: "no weights",
      }],
      stages: [{ stage: "prepare", status: "computed", seconds: 1.5, key: "abcdef0123456789" }],
      notes: ["FID skipped"],
    });
    const dir = await Deno.makeTempDir();
    const path = join(dir, "report.html");
    await Deno.writeTextFile(path, html);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`file://${path}`);
      // Page-side code as strings: it runs in the browser, not under Deno's type checker.
      const widths = await page.evaluate(
        `[...document.querySelectorAll("figure img")].map((i) => i.complete ? i.naturalWidth : -1)`,
      );
      assertEquals(widths, [a.width, b.width]);
      const rows = await page.evaluate(
        `[...document.querySelectorAll("#metrics tbody tr")].map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent))`,
      );
      assertEquals(rows, [["SWD x1e3 average", "123.5", "7.890", ""], [
        "FID",
        "—",
        "—",
        "no weights",
      ]]);
      const svgs = await page.evaluate(`document.querySelectorAll("svg path").length`);
      assert((svgs as number) >= 1);
      const shot = Deno.env.get("GANFLOW_SCREENSHOT");
      if (shot) await page.screenshot({ path: shot, fullPage: true });
    } finally {
      await browser.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
