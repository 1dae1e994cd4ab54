import { assertEquals } from "../tests/assert.ts";
import { slug, swdWithin } from "./ablation.ts";

const curve = [{ step: 250, swd: 60 }, { step: 500, swd: 30 }, { step: 750, swd: 25 }];

Deno.test("ablation: the curve point reached within the baseline's time", () => {
  // 10 s fixed + 0.1 s per step: step 500 ends at 60 s, step 750 at 85 s.
  assertEquals(swdWithin(curve, 10, 0.1, 60), { step: 500, swd: 30 });
  assertEquals(swdWithin(curve, 10, 0.1, 84.9), { step: 500, swd: 30 });
  assertEquals(swdWithin(curve, 10, 0.1, 1000), { step: 750, swd: 25 });
  assertEquals(swdWithin(curve, 10, 0.1, 30), null);
});

Deno.test("ablation: labels become figure ids", () => {
  assertEquals(slug("R1 0.1 + beta1 0 (StyleGAN's)"), "r1-0-1-beta1-0-stylegan-s");
});
