import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import { escapeXml, formatTick, lineChart, logTicks, niceTicks, smooth } from "./svg_chart.ts";

/** Text contents of all <text class="cls"> elements, in document order. */
function texts(svg: string, cls: string): string[] {
  return [...svg.matchAll(new RegExp(`<text class="${cls}"[^>]*>([^<]*)</text>`, "g"))].map((
    m,
  ) => m[1]);
}

Deno.test("niceTicks: 1-2-5 steps covering the range (hand-computed)", () => {
  assertEquals(niceTicks(0, 10), [0, 2, 4, 6, 8, 10]);
  assertEquals(niceTicks(0.13, 0.87), [0.2, 0.4, 0.6, 0.8]);
  assertEquals(niceTicks(-3, 7, 2), [0, 5]);
  assertEquals(niceTicks(0, 0.3, 3), [0, 0.1, 0.2, 0.3]);
  // Range 3600 / 5 = 720 per interval rounds up to a step of 1000.
  assertEquals(niceTicks(1200, 4800), [2000, 3000, 4000]);
  assertEquals(niceTicks(5, 5), [5]);
});

Deno.test("logTicks: decades, 1-2-5 within decades, or linear inside one decade", () => {
  assertEquals(logTicks(0.01, 100), [0.01, 0.1, 1, 10, 100]);
  assertEquals(logTicks(1, 30), [1, 2, 5, 10, 20]);
  assertEquals(logTicks(2, 4), [2, 2.5, 3, 3.5, 4]);
  assertEquals(logTicks(1e-10, 1e10), [1e-8, 1e-4, 1, 1e4, 1e8]);
});

Deno.test("formatTick: short labels", () => {
  assertEquals([0, 0.5, 1234.5678, 2e5, 1e-4].map(formatTick), ["0", "0.5", "1235", "2e5", "1e-4"]);
});

Deno.test("lineChart maps points to the plot box (hand-computed pixels)", () => {
  // Plot box: x from 64 to 544 (480 px), y from 256 (bottom) to 30 (top) (226 px).
  const svg = lineChart({
    title: "t",
    xLabel: "step",
    yLabel: "loss",
    series: [{ name: "D", points: [[0, 0], [5, 0.25], [10, 1]] }],
    width: 560,
    height: 300,
  });
  assert(svg.includes('d="M64.0 256.0 L304.0 199.5 L544.0 30.0"'), svg);
  assertEquals(texts(svg, "xtick"), ["0", "2", "4", "6", "8", "10"]);
  assertEquals(texts(svg, "ytick"), ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
  // Few points: one marker per point.
  assertEquals(svg.match(/<circle /g)?.length, 3);

  // y range 0.13..0.87 widens to whole 0.2 steps, 0..1: 0.13 sits at 256 - 0.13 * 226.
  const widened = lineChart({
    title: "t",
    xLabel: "x",
    yLabel: "y",
    series: [{ name: "a", points: [[0, 0.13], [1, 0.87]] }],
  });
  assert(widened.includes('d="M64.0 226.6 L544.0 59.4"'), widened);
});

Deno.test("lineChart log y: decade midpoint lands mid-box, ticks at decades", () => {
  const svg = lineChart({
    title: "t",
    xLabel: "x",
    yLabel: "L1",
    logY: true,
    series: [{ name: "a", points: [[0, 1], [1, 10], [2, 100]] }],
  });
  assert(svg.includes('d="M64.0 256.0 L304.0 143.0 L544.0 30.0"'), svg);
  assertEquals(texts(svg, "ytick"), ["1", "10", "100"]);
  assert(svg.includes("L1 (log scale)"));
});

Deno.test("lineChart: NaN and (on log axes) non-positive values leave gaps", () => {
  const svg = lineChart({
    title: "t",
    xLabel: "x",
    yLabel: "y",
    logY: true,
    series: [{ name: "a", points: [[0, 1], [1, 10], [2, NaN], [3, 10], [4, 0], [5, 1]] }],
  });
  // Segments: x 0..1, the lone point at x 3, the lone point at x 5.
  assertEquals(svg.match(/<path /g)?.length, 3);
  assert(svg.includes('d="M64.0 256.0 L160.0 30.0"'), svg);
});

Deno.test("lineChart escapes title, labels and series names; one legend entry per series", () => {
  const svg = lineChart({
    title: 'a<b & "c"',
    xLabel: "x<",
    yLabel: "y&",
    series: [{ name: "D<1>", points: [[0, 1]] }, { name: `G "x" & 'y'`, points: [] }],
  });
  assert(svg.includes("a&lt;b &amp; &quot;c&quot;"));
  assert(svg.includes(">x&lt;<") && svg.includes(">y&amp;<"));
  assertEquals(texts(svg, "legend"), ["D&lt;1&gt;", "G &quot;x&quot; &amp; &#39;y&#39;"]);
  assert(!/<[^a-z/!?]/i.test(svg.replace(/<\/?[a-z]+[ >\/]/gi, "")), "stray '<' in output");
  assertEquals(escapeXml(`<&">'`), "&lt;&amp;&quot;&gt;&#39;");
});

Deno.test("lineChart rejects bad input with specific messages", () => {
  const base = { title: "losses", xLabel: "x", yLabel: "y", series: [] };
  assertThrows(() => lineChart({ ...base, width: 50 }), "too small");
  assertThrows(
    () =>
      lineChart({
        ...base,
        series: [{ name: "D", points: [[0, 1], [1] as unknown as [number, number]] }],
      }),
    'series "D" point 1',
  );
});

Deno.test("smooth averages long series into windows", () => {
  const pts: [number, number][] = Array.from({ length: 10 }, (_, i) => [i, i % 2]);
  assertEquals(smooth(pts, 5), [[1, 0.5], [3, 0.5], [5, 0.5], [7, 0.5], [9, 0.5]]);
  assertEquals(smooth(pts, 10), pts);
});
