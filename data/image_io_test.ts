import { join } from "node:path";
import { assertEquals, assertRejects, assertThrows } from "../tests/assert.ts";
import { floatToUint8, imageGrid, writePng } from "./image_io.ts";

Deno.test("floatToUint8: [-1, 1] maps to 0..255 by (x + 1) * 127.5, rounded and clamped", () => {
  const x = Float32Array.from([-1, 1, 0, -2, 3, 0.5, -0.999]);
  // 0 -> 127.5 rounds up; 0.5 -> 191.25; -0.999 -> 0.1275.
  assertEquals([...floatToUint8(x)], [0, 255, 128, 0, 255, 191, 0]);
});

Deno.test("imageGrid: 3 grey 2x2 images in 2 columns, hand-laid layout with 1px borders", () => {
  const imgs = Float32Array.from([
    ...[-1, -1, -1, -1], // image 0: black
    ...[1, 1, 1, 1], // image 1: white
    ...[0, 1, -1, 0], // image 2: mixed
  ]);
  const g = imageGrid(imgs, 3, 2, 2, 1, 2);
  assertEquals([g.width, g.height, g.channels], [7, 7, 3]);
  const B = 32, W = 255;
  const expected = [
    [B, B, B, B, B, B, B],
    [B, 0, 0, B, W, W, B],
    [B, 0, 0, B, W, W, B],
    [B, B, B, B, B, B, B],
    [B, 128, W, B, B, B, B],
    [B, 0, 128, B, B, B, B],
    [B, B, B, B, B, B, B],
  ];
  const red = Array.from(
    { length: 7 },
    (_, y) => Array.from({ length: 7 }, (_, x) => g.pixels[(y * 7 + x) * 3]),
  );
  assertEquals(red, expected);
  for (let i = 0; i < 49; i++) {
    assertEquals([g.pixels[3 * i + 1], g.pixels[3 * i + 2]], [g.pixels[3 * i], g.pixels[3 * i]]);
  }
  assertThrows(() => imageGrid(imgs, 4, 2, 2, 1, 2), "cannot hold 4 images");
});

const py = "/usr/bin/python3";
const hasPil = (() => {
  try {
    return new Deno.Command(py, { args: ["-c", "import PIL"] }).outputSync().success;
  } catch {
    return false;
  }
})();
if (!hasPil) {
  console.log(
    "note: /usr/bin/python3 cannot import PIL (apt python3-pil); the PNG read-back test is ignored",
  );
}

Deno.test({
  name: "writePng: PIL (an independent decoder) reads back the exact RGB bytes",
  ignore: !hasPil,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const w = 5, h = 3;
      const px = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 37) % 256);
      const path = join(dir, "a.png");
      await writePng(path, px, w, h, 3);
      const r = await new Deno.Command(py, {
        args: [
          "-c",
          "import sys; from PIL import Image; im = Image.open(sys.argv[1]); print(im.mode, im.size, list(im.tobytes()))",
          path,
        ],
      }).output();
      assertEquals(new TextDecoder().decode(r.stdout).trim(), `RGB (5, 3) [${[...px].join(", ")}]`);
      await assertRejects(() => writePng(path, px.subarray(1), w, h, 3), "do not match 5x3x3");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
