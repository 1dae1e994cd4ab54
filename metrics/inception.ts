/**
 * pytorch-fid's FID Inception-v3 (the TensorFlow 2015-12-05 graph ported to PyTorch) in tfjs, as
 * plain functions over its torch state_dict (`Conv2d_1a_3x3.conv.weight`,
 * `Mixed_5b.branch1x1.bn.running_mean`, ...). Every conv is followed by BatchNorm (eps 1e-3) and
 * ReLU; the BN is folded into the conv weights and a bias at load time. The FID-specific blocks
 * are reproduced: 3x3 average pools that do not count the padding (Mixed_5b-d, 6b-e, 7b) and a
 * 3x3 max pool in Mixed_7c. Input: NHWC images in [-1, 1] of any size, resized to 299x299
 * bilinearly as torch's F.interpolate(align_corners=False); output: the 2048-d pool3 features.
 *
 * Where the weights file comes from: metrics/inception_weights.ts; the cpu backend's fast
 * kernels: metrics/inception_kernels.ts.
 */
import * as tf from "@tensorflow/tfjs";
import { gunzipSync } from "node:zlib";
import { readTorchFile } from "./torch_file.ts";
import { toFloat32, type TorchTensor } from "./torch_tensor.ts";
import { biasReluInPlace, jsFastPath, pool3 } from "./inception_kernels.ts";
import { sha256Hex } from "./inception_weights.ts";

export const FEATURE_DIM = 2048;
const BN_EPS = 1e-3;

/** One conv with its BatchNorm folded in: HWIO weights, bias, stride, padding. */
export interface FoldedConv {
  w: tf.Tensor4D;
  b: tf.Tensor1D;
  stride: number;
  pad: "same" | "valid";
}

export interface InceptionNet {
  convs: Map<string, FoldedConv>;
}

const BLOCK_CONVS = {
  A: [
    "branch1x1",
    "branch5x5_1",
    "branch5x5_2",
    "branch3x3dbl_1",
    "branch3x3dbl_2",
    "branch3x3dbl_3",
    "branch_pool",
  ],
  B: ["branch3x3", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"],
  C: [
    "branch1x1",
    "branch7x7_1",
    "branch7x7_2",
    "branch7x7_3",
    "branch7x7dbl_1",
    "branch7x7dbl_2",
    "branch7x7dbl_3",
    "branch7x7dbl_4",
    "branch7x7dbl_5",
    "branch_pool",
  ],
  D: [
    "branch3x3_1",
    "branch3x3_2",
    "branch7x7x3_1",
    "branch7x7x3_2",
    "branch7x7x3_3",
    "branch7x7x3_4",
  ],
  E: [
    "branch1x1",
    "branch3x3_1",
    "branch3x3_2a",
    "branch3x3_2b",
    "branch3x3dbl_1",
    "branch3x3dbl_2",
    "branch3x3dbl_3a",
    "branch3x3dbl_3b",
    "branch_pool",
  ],
} as const;

const STEM = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3"];
const MIXED: [string, keyof typeof BLOCK_CONVS][] = [
  ["Mixed_5b", "A"],
  ["Mixed_5c", "A"],
  ["Mixed_5d", "A"],
  ["Mixed_6a", "B"],
  ["Mixed_6b", "C"],
  ["Mixed_6c", "C"],
  ["Mixed_6d", "C"],
  ["Mixed_6e", "C"],
  ["Mixed_7a", "D"],
  ["Mixed_7b", "E"],
  ["Mixed_7c", "E"],
];
/** Convs without padding (torch padding=0 with a kernel > 1); the others keep the size. */
const VALID = new Set([
  "Conv2d_1a_3x3",
  "Conv2d_2a_3x3",
  "Conv2d_4a_3x3",
  "Mixed_6a.branch3x3",
  "Mixed_6a.branch3x3dbl_3",
  "Mixed_7a.branch3x3_2",
  "Mixed_7a.branch7x7x3_4",
]);
const STRIDE2 = new Set([
  "Conv2d_1a_3x3",
  "Mixed_6a.branch3x3",
  "Mixed_6a.branch3x3dbl_3",
  "Mixed_7a.branch3x3_2",
  "Mixed_7a.branch7x7x3_4",
]);

/** Every conv (BasicConv2d) of the network, by its state_dict prefix. */
export function inceptionConvNames(): string[] {
  return [
    ...STEM,
    ...MIXED.flatMap(([block, kind]) => BLOCK_CONVS[kind].map((c) => `${block}.${c}`)),
  ];
}

/**
 * Builds the network from a state_dict: folds each BatchNorm into its conv (in float64) and
 * turns OIHW weights into HWIO. Extra entries (fc.*, num_batches_tracked) are ignored; a missing
 * or misshapen one is an error naming it.
 */
export function inceptionFromStateDict(sd: Map<string, TorchTensor>): InceptionNet {
  const convs = new Map<string, FoldedConv>();
  const get = (name: string, rank: number) => {
    const t = sd.get(name);
    if (!t) throw new Error(`Inception weights: "${name}" is missing (not an FID Inception file?)`);
    if (t.shape.length !== rank) {
      throw new Error(`Inception weights: "${name}" has shape [${t.shape}], expected rank ${rank}`);
    }
    return t;
  };
  for (const name of inceptionConvNames()) {
    const wt = get(`${name}.conv.weight`, 4);
    const [o, i, kh, kw] = wt.shape;
    const w = toFloat32(wt);
    const bn = ["weight", "bias", "running_mean", "running_var"].map((k) => {
      const t = get(`${name}.bn.${k}`, 1);
      if (t.shape[0] !== o) {
        throw new Error(`Inception weights: "${name}.bn.${k}" has ${t.shape[0]} values, not ${o}`);
      }
      return toFloat32(t);
    });
    const [gamma, beta, mean, variance] = bn;
    const hwio = new Float32Array(w.length);
    const bias = new Float32Array(o);
    for (let oc = 0; oc < o; oc++) {
      const scale = gamma[oc] / Math.sqrt(variance[oc] + BN_EPS);
      bias[oc] = beta[oc] - mean[oc] * scale;
      for (let ic = 0; ic < i; ic++) {
        for (let y = 0; y < kh; y++) {
          for (let x = 0; x < kw; x++) {
            hwio[((y * kw + x) * i + ic) * o + oc] = w[((oc * i + ic) * kh + y) * kw + x] * scale;
          }
        }
      }
    }
    convs.set(name, {
      w: tf.tensor4d(hwio, [kh, kw, i, o]),
      b: tf.tensor1d(bias),
      stride: STRIDE2.has(name) ? 2 : 1,
      pad: VALID.has(name) ? "valid" : "same",
    });
  }
  return { convs };
}

export function disposeInception(net: InceptionNet): void {
  for (const c of net.convs.values()) tf.dispose([c.w, c.b]);
  net.convs.clear();
}

function conv(net: InceptionNet, name: string, x: tf.Tensor4D): tf.Tensor4D {
  const c = net.convs.get(name)!;
  // oneDNN adds the bias and applies the ReLU in the conv's own pass.
  if (tf.getBackend() === "onednn") {
    return tf.fused.conv2d({
      x,
      filter: c.w,
      strides: c.stride,
      pad: c.pad,
      bias: c.b,
      activation: "relu",
    });
  }
  // Elsewhere a plain conv2d, then bias + ReLU in one JS pass on the cpu backend.
  const y = tf.conv2d(x, c.w, c.stride, c.pad);
  if (jsFastPath()) {
    // Overwrites y's buffer (see the kernel); y is not used again.
    const out = biasReluInPlace(y, c.b);
    y.dispose();
    return out;
  }
  return tf.relu(tf.add(y, c.b));
}

const chain = (net: InceptionNet, names: string[], x: tf.Tensor4D) =>
  names.reduce((h, n) => conv(net, n, h), x);

/** Mixed blocks; `p` is the block's prefix, e.g. "Mixed_5b.". */
function mixed(net: InceptionNet, block: string, kind: string, x: tf.Tensor4D): tf.Tensor4D {
  const p = (n: string) => `${block}.${n}`;
  const c = (names: string[], h: tf.Tensor4D) => chain(net, names.map(p), h);
  // FID blocks: the average pool ignores the zero padding (TF semantics, as tfjs' avgPool does).
  const avg = () => pool3(x, "avg", 1, "same");
  switch (kind) {
    case "A":
      return tf.concat([
        c(["branch1x1"], x),
        c(["branch5x5_1", "branch5x5_2"], x),
        c(["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"], x),
        c(["branch_pool"], avg()),
      ], 3);
    case "B":
      return tf.concat([
        c(["branch3x3"], x),
        c(["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"], x),
        pool3(x, "max", 2, "valid"),
      ], 3);
    case "C":
      return tf.concat([
        c(["branch1x1"], x),
        c(["branch7x7_1", "branch7x7_2", "branch7x7_3"], x),
        c([
          "branch7x7dbl_1",
          "branch7x7dbl_2",
          "branch7x7dbl_3",
          "branch7x7dbl_4",
          "branch7x7dbl_5",
        ], x),
        c(["branch_pool"], avg()),
      ], 3);
    case "D":
      return tf.concat([
        c(["branch3x3_1", "branch3x3_2"], x),
        c(["branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4"], x),
        pool3(x, "max", 2, "valid"),
      ], 3);
    default: { // E: Mixed_7b averages (padding not counted), Mixed_7c takes the max
      const b3 = c(["branch3x3_1"], x);
      const bd = c(["branch3x3dbl_1", "branch3x3dbl_2"], x);
      const pool = block === "Mixed_7c" ? pool3(x, "max", 1, "same") : avg();
      return tf.concat([
        c(["branch1x1"], x),
        c(["branch3x3_2a"], b3),
        c(["branch3x3_2b"], b3),
        c(["branch3x3dbl_3a"], bd),
        c(["branch3x3dbl_3b"], bd),
        c(["branch_pool"], pool),
      ], 3);
    }
  }
}

/** Bilinear resize as torch F.interpolate(mode="bilinear", align_corners=False). */
export function resizeLikeTorch(x: tf.Tensor4D, size: [number, number]): tf.Tensor4D {
  if (x.shape[1] === size[0] && x.shape[2] === size[1]) return x.clone();
  return tf.image.resizeBilinear(x, size, false, true);
}

/** NHWC images in [-1, 1] (3 channels, any size) -> [N, 2048] pool3 features. */
export function inceptionFeatures(net: InceptionNet, images: tf.Tensor4D): tf.Tensor2D {
  if (images.shape[3] !== 3) throw new Error(`Inception needs 3 channels, got ${images.shape[3]}`);
  let x = tf.tidy(() => resizeLikeTorch(images, [299, 299]));
  const step = (f: (h: tf.Tensor4D) => tf.Tensor4D) => {
    const next = tf.tidy(() => f(x));
    x.dispose();
    x = next;
  };
  step((h) => chain(net, ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3"], h));
  step((h) => pool3(h, "max", 2, "valid"));
  step((h) => chain(net, ["Conv2d_3b_1x1", "Conv2d_4a_3x3"], h));
  step((h) => pool3(h, "max", 2, "valid"));
  for (const [block, kind] of MIXED) step((h) => mixed(net, block, kind, h));
  const out = tf.tidy(() => tf.mean(x, [1, 2]) as tf.Tensor2D);
  x.dispose();
  return out;
}

/**
 * Features of n NHWC images held in one array (values in [-1, 1]; 1 channel is repeated to 3,
 * as pytorch-fid converts to RGB), in batches. Returns n x 2048 row-major.
 */
export function extractFeatures(
  net: InceptionNet,
  data: Float32Array,
  shape: [number, number, number, number],
  opts: { batch?: number; onProgress?: (done: number, total: number) => void } = {},
): Float32Array {
  const [n, h, w, c] = shape;
  if (c !== 1 && c !== 3) throw new Error(`Inception features: 1 or 3 channels, got ${c}`);
  const per = h * w * c;
  const batch = opts.batch ?? 16;
  const out = new Float32Array(n * FEATURE_DIM);
  for (let i = 0; i < n; i += batch) {
    const m = Math.min(batch, n - i);
    const f = tf.tidy(() => {
      let x = tf.tensor4d(data.subarray(i * per, (i + m) * per), [m, h, w, c]);
      if (c === 1) x = tf.tile(x, [1, 1, 1, 3]);
      return inceptionFeatures(net, x);
    });
    out.set(f.dataSync() as Float32Array, i * FEATURE_DIM);
    f.dispose();
    opts.onProgress?.(i + m, n);
  }
  return out;
}

/** Weights from a torch.save file (optionally gzip-compressed), plus the file's SHA-256. */
export async function loadInception(path: string): Promise<{ net: InceptionNet; sha256: string }> {
  let bytes: Uint8Array = await Deno.readFile(path);
  const sha256 = await sha256Hex(bytes);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = new Uint8Array(gunzipSync(bytes));
  return { net: inceptionFromStateDict(readTorchFile(bytes)), sha256 };
}
