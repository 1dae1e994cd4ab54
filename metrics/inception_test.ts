/**
 * The FID Inception network against PyTorch: tests/fixtures/inception/make_inception_fixture.py
 * builds pytorch-fid's architecture in torch with low-entropy pattern weights (BN statistics
 * calibrated so features depend strongly on the picture), saves the state_dict gzip-compressed
 * and the 2048-d features torch computed for 5 pictures of 3 sizes (64², 37x53, 320x310). Here
 * the file goes through torch_file.ts and inception.ts on the onednn backend (cpu without
 * libdnnl) and must give the same features to 1e-3 relative; a wrong resize (align_corners=True)
 * would differ by ~20%.
 */
import * as tf from "@tensorflow/tfjs";
import {
  assert,
  assertAllClose,
  assertEquals,
  assertRejects,
  assertThrows,
} from "../tests/assert.ts";
import { initBackend } from "../backend/mod.ts";
import { hasOneDnn } from "../backend/onednn/test_gate.ts";
import { gunzipSync } from "node:zlib";
import { readTorchFile } from "./torch_file.ts";
import {
  disposeInception,
  extractFeatures,
  FEATURE_DIM,
  inceptionConvNames,
  inceptionFromStateDict,
  type InceptionNet,
  loadInception,
  resizeLikeTorch,
} from "./inception.ts";
import { biasReluJs, pool3Js } from "./inception_kernels.ts";
import { defaultInceptionPath, locateInceptionWeights } from "./inception_weights.ts";

const DIR = new URL("../tests/fixtures/inception/", import.meta.url);
await initBackend(hasOneDnn ? "onednn" : "cpu");

const fixture = JSON.parse(await Deno.readTextFile(new URL("inception_case.json", DIR))) as {
  batches: [number, number, number, number][];
  resize: {
    in: [number, number, number];
    out: [number, number];
    src: number[];
    expected: number[];
  }[];
  stats: { alignCornersTrueRelDiff: number };
};

Deno.test("resize matches torch F.interpolate(bilinear, align_corners=False), up and down", () => {
  for (const r of fixture.resize) {
    const x = tf.tensor4d(r.src, [1, ...r.in]);
    const y = resizeLikeTorch(x, r.out);
    assertEquals(y.shape, [1, r.out[0], r.out[1], r.in[2]]);
    assertAllClose(y.dataSync(), r.expected, { rtol: 1e-5, atol: 1e-6 });
    tf.dispose([x, y]);
  }
});

Deno.test("3x3 pools (separable JS kernel) equal tfjs maxPool / avgPool (padding not counted)", () => {
  const shape = [2, 9, 8, 5];
  const data = new Float32Array(2 * 9 * 8 * 5).map((_, i) => Math.sin(i * 1.7) * 3);
  const x = tf.tensor4d(data, shape as [number, number, number, number]);
  for (
    const [kind, stride, pad] of [["max", 2, "valid"], ["max", 1, "same"], [
      "avg",
      1,
      "same",
    ]] as const
  ) {
    const ref = kind === "max" ? tf.maxPool(x, 3, stride, pad) : tf.avgPool(x, 3, stride, pad);
    const got = pool3Js(data, shape, kind, stride, pad);
    assertEquals(got.shape, ref.shape);
    assertAllClose(got.out, ref.dataSync(), { rtol: 1e-6, atol: 1e-6 });
    ref.dispose();
  }
  x.dispose();
});

Deno.test("bias + ReLU (the cpu backend's one-pass kernel) is max(x + b, 0) per channel", () => {
  const x = Float32Array.from([-1, 2, 0.5, 3, -4, 1]), b = Float32Array.from([0.5, -2.5, 1]);
  const out = new Float32Array(6);
  biasReluJs(x, b, out);
  assertEquals(Array.from(out), [0, 0, 1.5, 3.5, 0, 2]);
});

let shared: Promise<{ net: InceptionNet; sha256: string }> | null = null;
const fixtureNet = () => shared ??= loadInception(new URL("inception_pattern.pt.gz", DIR).pathname);

Deno.test({
  name: "FID Inception features match PyTorch (pattern weights, 3 image sizes) to 1e-3",
  async fn() {
    const { net, sha256 } = await fixtureNet();
    assertEquals(sha256.length, 64);
    const images = await Deno.readFile(new URL("inception_images.bin", DIR));
    const expected = new Float32Array(
      (await Deno.readFile(new URL("inception_features.bin", DIR))).buffer,
    );
    let imgOffset = 0, featOffset = 0;
    const before = tf.memory().numTensors;
    for (const shape of fixture.batches) {
      const [n, h, w, c] = shape;
      const count = n * h * w * c;
      const data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = images[imgOffset + i] / 127.5 - 1;
      imgOffset += count;
      const got = extractFeatures(net, data, shape, { batch: 2 });
      const want = expected.subarray(featOffset, featOffset + n * FEATURE_DIM);
      featOffset += n * FEATURE_DIM;
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      assert(scale > 0.1, "reference features are not degenerate");
      assertAllClose(got, want, { rtol: 1e-3, atol: 1e-3 * scale });
    }
    assertEquals(featOffset, expected.length);
    assertEquals(tf.memory().numTensors, before, "no tensor leaks");
    // The tolerance is far from what a wrong resize gives (the fixture measured it).
    assert(fixture.stats.alignCornersTrueRelDiff > 0.05);
  },
});

Deno.test("Inception: grayscale input is repeated to RGB, as pytorch-fid converts it", async () => {
  const { net } = await fixtureNet();
  const grey = new Float32Array(24 * 24).map((_, i) => Math.sin(i / 7));
  const rgb = new Float32Array(24 * 24 * 3).map((_, i) => grey[Math.floor(i / 3)]);
  const a = extractFeatures(net, grey, [1, 24, 24, 1]);
  const b = extractFeatures(net, rgb, [1, 24, 24, 3]);
  assertAllClose(a, b, { rtol: 0, atol: 0 });
  disposeInception(net);
});

Deno.test("Inception: a state_dict lacking an entry is refused, naming it", () => {
  const sd = readTorchFile(
    new Uint8Array(gunzipSync(Deno.readFileSync(new URL("inception_pattern.pt.gz", DIR)))),
  );
  sd.delete("Mixed_6c.branch7x7dbl_3.bn.running_var");
  assertThrows(() => inceptionFromStateDict(sd), "Mixed_6c.branch7x7dbl_3.bn.running_var");
  assertEquals(inceptionConvNames().length, 94);
});

Deno.test("Inception weights: a missing file gives an error saying where to put it", async () => {
  const dir = await Deno.makeTempDir();
  const saved = Deno.env.get("GANFLOW_CACHE");
  Deno.env.set("GANFLOW_CACHE", dir);
  try {
    assertEquals(defaultInceptionPath(), `${dir}/pt_inception-2015-12-05-6726825d.pth`);
    await assertRejects(
      () => locateInceptionWeights({ download: false }),
      `put it at ${dir}/pt_inception-2015-12-05-6726825d.pth`,
    );
    await assertRejects(
      () => locateInceptionWeights({ path: `${dir}/nope.pth` }),
      `${dir}/nope.pth`,
    );
    await Deno.writeFile(defaultInceptionPath(), new Uint8Array([1]));
    assertEquals(await locateInceptionWeights(), defaultInceptionPath());
  } finally {
    if (saved === undefined) Deno.env.delete("GANFLOW_CACHE");
    else Deno.env.set("GANFLOW_CACHE", saved);
    await Deno.remove(dir, { recursive: true });
  }
});
