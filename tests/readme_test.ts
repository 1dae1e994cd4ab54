/**
 * The README reads well raw: short lines, short table cells, a size a newcomer reads, nothing that
 * points outside the repository, and the images it shows exist.
 */
import { assert, assertEquals } from "./assert.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const readme = await Deno.readTextFile(`${ROOT}README.md`);
const lines = readme.split("\n");

Deno.test("README: lines of at most 120 characters, under 15 KB", () => {
  const long = lines.flatMap((l, i) => [...l].length > 120 ? [`${i + 1}: ${l.length}`] : []);
  assertEquals(long, []);
  assert(new TextEncoder().encode(readme).length < 15 * 1024, `${readme.length} bytes`);
});

Deno.test("README: every table cell is at most one sentence", () => {
  const bad = lines.flatMap((l, i) => {
    if (!l.startsWith("|")) return [];
    const cells = l.split("|").slice(1, -1).map((c) => c.trim());
    // A sentence ends in ". " followed by more text; a cell with two of those holds two.
    return cells.filter((c) => /[.;:] \S/.test(c) || c.length > 80).map((c) => `${i + 1}: ${c}`);
  });
  assertEquals(bad, []);
});

Deno.test("README: no references to notes outside the repository or to how work was organised", () => {
  const found = lines.flatMap((l, i) =>
    /FINDINGS|this stop|last stop|\.\.\/shared|session/i.test(l) ? [`${i + 1}: ${l}`] : []
  );
  assertEquals(found, []);
});

Deno.test("README: the pictures it shows are in the repository and small", async () => {
  const images = [...readme.matchAll(/!\[[^\]]*\]\(([^)]+)\)|<img src="([^"]+)"/g)]
    .map((m) => m[1] ?? m[2]);
  assert(images.length >= 2, `${images}`);
  for (const path of images) {
    const { size } = await Deno.stat(`${ROOT}${path}`);
    assert(size < 300 * 1024, `${path}: ${size} bytes`);
  }
});
