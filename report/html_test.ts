import sharp from "sharp";
import { Buffer } from "node:buffer";
import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import { encodeBase64 } from "./base64.ts";
import { formatMetric, renderReport, type ReportData } from "./html.ts";
import { pngSize } from "./png_size.ts";

/** A solid-colour PNG encoded by sharp (libvips), an encoder independent of this module. */
function solidPng(width: number, height: number): Promise<Uint8Array> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 30, b: 30 } } })
    .png().toBuffer().then((b) => new Uint8Array(b));
}

async function sample(): Promise<ReportData> {
  return {
    title: "run <1> & co",
    subtitle: "latent 16x16",
    images: [{ title: "Samples", png: await solidPng(7, 3), id: "samples" }],
    reconstructions: [{
      title: "AE",
      originals: await solidPng(5, 4),
      reconstructions: await solidPng(5, 4),
      id: "recon",
    }],
    charts: [{ title: "losses", xLabel: "step", yLabel: "loss", series: [] }],
    checkpointCharts: [{
      title: "SWD vs step",
      xLabel: "step",
      yLabel: "SWD",
      series: [{ name: "avg", points: [[100, 3], [200, 2]] }],
    }],
    metrics: [
      { name: "SWD <avg>", model: 1234.567, reals2: 0.0123456 },
      { name: "FID", model: null, reals2: NaN, note: "skipped" },
    ],
    stages: [
      { stage: "prepare", status: "cached", seconds: 1.25, key: "0123456789abcdefXYZ" },
      { stage: "train", status: "computed", seconds: 10, key: "fedcba9876543210" },
    ],
    notes: ['FID skipped: put weights at "/x/<y>"'],
  };
}

Deno.test("formatMetric: dash for missing, 1 decimal when large, else 4 significant digits", () => {
  assertEquals(
    [null, NaN, Infinity, 1234.567, 99.987, 0.0123456, -5].map(formatMetric),
    ["—", "—", "—", "1234.6", "99.99", "0.01235", "-5.000"],
  );
});

Deno.test("encodeBase64 matches node:buffer on data larger than one chunk", () => {
  const bytes = new Uint8Array(70_001).map((_, i) => (i * 7919) % 256);
  assertEquals(encodeBase64(bytes), Buffer.from(bytes).toString("base64"));
  assertEquals(encodeBase64(new Uint8Array()), "");
});

Deno.test("pngSize reads sharp-encoded PNG sizes and rejects non-PNG bytes", async () => {
  assertEquals(pngSize(await solidPng(7, 3)), { width: 7, height: 3 });
  assertThrows(() => pngSize(new TextEncoder().encode("GIF89a not a png at all...")), "not a PNG");
});

Deno.test("renderReport: self-contained page with escaped text, tables and charts", async () => {
  const data = await sample();
  const html = renderReport(data);
  // A 7x3 grid is shown 4x enlarged (the zoom cap); a 5x4 one too.
  assert(html.includes('width="20" height="16"'));
  // Self-contained: no external URLs, only data: images.
  assert(
    !/(src|href)="(?!data:)/.test(html) && !/url\(/.test(html) &&
      !/https?:\/\/(?!www\.w3\.org\/2000\/svg)/.test(html),
  );
  assertEquals(html.match(/src="data:image\/png;base64,/g)?.length, 3);
  assert(
    html.includes(
      `width="28" height="12" src="data:image/png;base64,${encodeBase64(data.images[0].png)}"`,
    ),
  );
  // Escaping of user text everywhere.
  assert(html.includes("<title>run &lt;1&gt; &amp; co</title>"));
  assert(html.includes("<td>SWD &lt;avg&gt;</td>"));
  assert(html.includes("FID skipped: put weights at &quot;/x/&lt;y&gt;&quot;"));
  // Metrics rows with formatted numbers.
  assert(html.includes('<td class="n">1234.6</td><td class="n">0.01235</td>'));
  assert(html.includes('<td>FID</td><td class="n">—</td><td class="n">—</td><td>skipped</td>'));
  // Stage table: 12-character key prefix and the total of the seconds column.
  assert(html.includes("<code>0123456789ab</code>") && !html.includes("0123456789abc"));
  assert(html.includes('<tr class="total"><td>total</td><td></td><td class="n">11.3</td>'));
  // Both chart sections, one SVG each; reconstructions side by side.
  assertEquals(html.match(/<svg /g)?.length, 2);
  assert(html.includes('id="checkpoints"') && html.includes('id="curves"'));
  assert(
    /<figure class="pair" id="recon"><div class="side">.*originals.*reconstructions/.test(html),
  );
});

Deno.test("renderReport: samples over training, one figure per step in the order given", async () => {
  const data = await sample();
  const steps = [250, 500, 1500];
  const pngs = await Promise.all(steps.map((s) => solidPng(s / 250, 2)));
  const html = renderReport({
    ...data,
    progress: steps.map((s, i) => ({ title: `step ${s}`, png: pngs[i] })),
  });
  const section = html.slice(html.indexOf('<section id="progress">'));
  const body = section.slice(0, section.indexOf("</section>"));
  assert(body.startsWith('<section id="progress"><h2>Samples over training</h2>'), body);
  assertEquals([...body.matchAll(/<b>(step \d+)<\/b>/g)].map((m) => m[1]), [
    "step 250",
    "step 500",
    "step 1500",
  ]);
  const images = [...body.matchAll(/base64,([^"]+)"/g)].map((m) => m[1]);
  assertEquals(images, pngs.map(encodeBase64));
  assert(!renderReport(data).includes('id="progress"'), "no section without snapshots");
});

Deno.test("renderReport omits empty optional sections and rejects non-PNG images", async () => {
  const data = await sample();
  const bare = renderReport({
    ...data,
    images: [],
    reconstructions: undefined,
    charts: [],
    checkpointCharts: undefined,
    notes: [],
  });
  for (const id of ["images", "notes", "checkpoints", "curves"]) {
    assert(!bare.includes(`id="${id}"`), id);
  }
  assert(bare.includes('id="metrics"') && bare.includes('id="stages"'));
  assertThrows(
    () => renderReport({ ...data, images: [{ title: "x", png: new Uint8Array(30) }] }),
    "not a PNG",
  );
});
