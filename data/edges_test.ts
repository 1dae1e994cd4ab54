import { assertAllClose, assertEquals } from "../tests/assert.ts";
import { luma, sobelEdges, sobelMagnitude } from "./edges.ts";

const fx = JSON.parse(
  await Deno.readTextFile(new URL("../tests/fixtures/compress/edges.json", import.meta.url)),
) as { shape: number[]; images: number[]; magnitude: number[]; threshold: number; edges: number[] };

Deno.test("Sobel magnitude and edge maps match PyTorch (replicated borders)", () => {
  const [, h, w, c] = fx.shape;
  const images = Float32Array.from(fx.images);
  assertAllClose(sobelMagnitude(luma(images, c), h, w), fx.magnitude, { atol: 1e-5 });
  assertEquals([...sobelEdges(images, [h, w, c], fx.threshold)], fx.edges);
});

Deno.test("Sobel: hand case, a vertical step of height 1", () => {
  // Grey columns 0 0 1 1: gx = (1+2+1)*(1-0) = 4 at the two columns beside the step, 0 elsewhere.
  const grey = Float32Array.from([0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1]);
  assertEquals([...sobelMagnitude(grey, 3, 4)], [0, 4, 4, 0, 0, 4, 4, 0, 0, 4, 4, 0]);
  // One channel in [-1, 1] is taken as luma directly: -1 -> 0, 1 -> 1.
  const img = grey.map((v) => 2 * v - 1);
  assertEquals([...sobelEdges(img, [3, 4, 1], 2)], [-1, 1, 1, -1, -1, 1, 1, -1, -1, 1, 1, -1]);
});
