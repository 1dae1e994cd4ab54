/**
 * pytorch-fid's FID Inception-v3 (the TensorFlow 2015-12-05 graph ported to PyTorch) in tfjs, as
 * plain functions over its torch state_dict (`Conv2d_1a_3x3.conv.weight`,
 * `Mixed_5b.branch1x1.bn.running_mean`, ...). Every conv is followed by BatchNorm (eps 1e-3) and
 * ReLU; the BN is folded into the conv weights and a bias at load time. The FID-specific blocks
 * are reproduced: 3x3 average pools that do not count the padding (Mixed_5b-d, 6b-e, 7b) and a
 * 3x3 max pool in Mixed_7c. Input: NHWC images in [-1, 1] of any size, resized to 299x299
 * bilinearly as torch's F.interpolate(align_corners=False); output: the 2048-d pool3 features.
 *
 * Weights: the published file (95 MB) is looked for at an explicit path, else in the cache dir
 * (`$GANFLOW_CACHE`, else `$XDG_CACHE_HOME/ganflow`, else `~/.cache/ganflow`); it is downloaded
 * there only where the URL is reachable. `deno run -A metrics/inception.ts [path]` fetches it
 * and checks its SHA-256 prefix (6726825d, as torch.hub does).
 */
import * as tf from "@tensorflow/tfjs";
import { gunzipSync } from "node:zlib";
import { dirname, join } from "node:path";
import { readTorchFile, toFloat32, type TorchTensor } from "./torch_file.ts";

export const INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth";
export const INCEPTION_URL =
  "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + INCEPTION_FILE;
/** torch.hub's check: the file's SHA-256 starts with the hex digits after the last '-'. */
export const INCEPTION_SHA256_PREFIX = "6726825d";
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

// ---------------------------------------------------------------------------------------------
// Two small kernels for tfjs's cpu backend: its separate Add + Relu and its generic pooling
// loops took half the forward time; one pass each here. The onednn backend runs conv + bias +
// ReLU as one fused primitive and pools with oneDNN; other backends use the plain tfjs ops.

type CpuBackend = tf.KernelBackend & {
  data: { get(id: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
};
const BIAS_RELU = "GanflowInceptionBiasRelu";
const POOL3 = "GanflowInceptionPool3";
const JS_BACKENDS = ["cpu"];

/** out = max(x + b, 0), b broadcast over the last axis. */
export function biasReluJs(x: Float32Array, b: Float32Array, out: Float32Array): void {
  const c = b.length;
  for (let i = 0; i < x.length; i += c) {
    for (let k = 0; k < c; k++) {
      const v = x[i + k] + b[k];
      out[i + k] = v > 0 ? v : 0;
    }
  }
}

/** TF pooling geometry along one axis: output size and padding before (SAME or VALID). */
function poolAxis(size: number, stride: number, pad: "same" | "valid") {
  if (pad === "valid") return { out: Math.floor((size - 3) / stride) + 1, before: 0 };
  const out = Math.ceil(size / stride);
  return { out, before: Math.floor(Math.max((out - 1) * stride + 3 - size, 0) / 2) };
}

/**
 * dst[d + k] = max or scaled sum of src[p0 + k], src[p1 + k], src[p2 + k] (the first `count`
 * runs) for k < len: one window position of a separable 3-wide pool, kept monomorphic and
 * unrolled so V8 compiles it to a tight loop.
 */
function window3(
  src: Float32Array,
  dst: Float32Array,
  d: number,
  p0: number,
  count: number,
  step: number,
  len: number,
  max: boolean,
): void {
  const p1 = p0 + step, p2 = p0 + 2 * step;
  if (max) {
    if (count === 3) {
      for (let k = 0; k < len; k++) {
        let a = src[p0 + k];
        const b = src[p1 + k], c = src[p2 + k];
        if (b > a) a = b;
        if (c > a) a = c;
        dst[d + k] = a;
      }
    } else if (count === 2) {
      for (let k = 0; k < len; k++) {
        const a = src[p0 + k], b = src[p1 + k];
        dst[d + k] = b > a ? b : a;
      }
    } else for (let k = 0; k < len; k++) dst[d + k] = src[p0 + k];
  } else {
    if (count === 3) {
      for (let k = 0; k < len; k++) dst[d + k] = (src[p0 + k] + src[p1 + k] + src[p2 + k]) / 3;
    } else if (count === 2) {
      for (let k = 0; k < len; k++) dst[d + k] = (src[p0 + k] + src[p1 + k]) / 2;
    } else for (let k = 0; k < len; k++) dst[d + k] = src[p0 + k];
  }
}

/** The row-pass buffer of pool3Js, kept between calls (fresh memory is slow to touch). */
let scratch = new Float32Array(0);

/**
 * 3x3 max or average pool of NHWC data, separably (rows, then columns); the average counts only
 * the pixels inside the image, as TF (and pytorch-fid's count_include_pad=False) do.
 */
export function pool3Js(
  x: Float32Array,
  [n, h, w, c]: readonly number[],
  kind: "max" | "avg",
  stride: number,
  pad: "same" | "valid",
): { out: Float32Array; shape: [number, number, number, number] } {
  const ax = poolAxis(w, stride, pad), ay = poolAxis(h, stride, pad);
  const max = kind === "max";
  const need = n * h * ax.out * c;
  if (scratch.length < need) scratch = new Float32Array(need);
  const tmp = scratch;
  for (let r = 0; r < n * h; r++) {
    for (let o = 0; o < ax.out; o++) {
      const s = o * stride - ax.before;
      const lo = Math.max(s, 0), hi = Math.min(s + 2, w - 1);
      window3(x, tmp, (r * ax.out + o) * c, (r * w + lo) * c, hi - lo + 1, c, c, max);
    }
  }
  const out = new Float32Array(n * ay.out * ax.out * c);
  const rowLen = ax.out * c;
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < ay.out; o++) {
      const s = o * stride - ay.before;
      const lo = Math.max(s, 0), hi = Math.min(s + 2, h - 1);
      const d = (b * ay.out + o) * rowLen;
      window3(tmp, out, d, (b * h + lo) * rowLen, hi - lo + 1, rowLen, rowLen, max);
    }
  }
  return { out, shape: [n, ay.out, ax.out, c] };
}

function registerJsKernels(): void {
  for (const backendName of JS_BACKENDS) {
    if (!tf.findBackend(backendName) || tf.getKernel(BIAS_RELU, backendName)) continue;
    tf.registerKernel({
      kernelName: BIAS_RELU,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const { x, b } = inputs as { x: tf.TensorInfo; b: tf.TensorInfo };
        const be = backend as CpuBackend;
        const xv = be.data.get(x.dataId).values as Float32Array;
        // In place: x is the conv output that conv() below drops right after this call.
        // Writing into it spares a fresh array (first-touch page faults cost more than the
        // arithmetic on this kind of VM).
        biasReluJs(xv, be.data.get(b.dataId).values as Float32Array, xv);
        return be.makeTensorInfo([...x.shape], "float32", xv);
      },
    });
    tf.registerKernel({
      kernelName: POOL3,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x } = inputs as { x: tf.TensorInfo };
        const a = attrs as unknown as {
          kind: "max" | "avg";
          stride: number;
          pad: "same" | "valid";
        };
        const be = backend as CpuBackend;
        const xv = be.data.get(x.dataId).values as Float32Array;
        const { out, shape } = pool3Js(xv, x.shape, a.kind, a.stride, a.pad);
        return be.makeTensorInfo(shape, "float32", out);
      },
    });
  }
}

const fastPath = () => JS_BACKENDS.includes(tf.getBackend());

function pool3(x: tf.Tensor4D, kind: "max" | "avg", stride: number, pad: "same" | "valid") {
  if (fastPath()) {
    registerJsKernels();
    return tf.engine().runKernel(POOL3, { x }, { kind, stride, pad }) as tf.Tensor4D;
  }
  return kind === "max" ? tf.maxPool(x, 3, stride, pad) : tf.avgPool(x, 3, stride, pad);
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
  if (fastPath()) {
    registerJsKernels();
    // Overwrites y's buffer (see the kernel); y is not used again.
    const out = tf.engine().runKernel(BIAS_RELU, { x: y, b: c.b }, {}) as tf.Tensor4D;
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

// ---------------------------------------------------------------------------------------------
// Locating, downloading and loading the weights

/** `$GANFLOW_CACHE`, else `$XDG_CACHE_HOME/ganflow`, else `~/.cache/ganflow`. */
export function ganflowCacheDir(): string {
  const env = (k: string) => {
    try {
      return Deno.env.get(k) || undefined;
    } catch {
      return undefined; // no --allow-env
    }
  };
  const explicit = env("GANFLOW_CACHE");
  if (explicit) return explicit;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "ganflow");
  return join(env("HOME") ?? ".", ".cache", "ganflow");
}

/** Where the weights are looked for (and downloaded to) when no path is given. */
export function defaultInceptionPath(): string {
  return join(ganflowCacheDir(), INCEPTION_FILE);
}

export function missingWeightsMessage(looked: string[]): string {
  return `FID Inception weights not found (looked at ${looked.join(", ")}). Download ` +
    `${INCEPTION_URL} (95 MB, SHA-256 starting ${INCEPTION_SHA256_PREFIX}) on a machine that ` +
    `can reach it and put it at ${defaultInceptionPath()} (the cache dir is $GANFLOW_CACHE, ` +
    `else $XDG_CACHE_HOME/ganflow, else ~/.cache/ganflow), or pass its path ` +
    "(--set real-stats.inceptionWeights=/path/to/file).";
}

/** Whether `path` is an existing file (no throw). */
export function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Downloads the published weights to `dest` (atomically, after checking the SHA-256 prefix).
 * Returns false, without throwing, when the URL cannot be reached.
 */
export async function downloadInceptionWeights(
  dest = defaultInceptionPath(),
  opts: { url?: string; timeoutMs?: number; log?: (m: string) => void } = {},
): Promise<boolean> {
  let res: Response;
  try {
    res = await fetch(opts.url ?? INCEPTION_URL, {
      signal: AbortSignal.timeout(opts.timeoutMs ?? 600_000),
    });
  } catch (e) {
    opts.log?.(
      `Inception weights: ${opts.url ?? INCEPTION_URL} unreachable (${(e as Error).message})`,
    );
    return false;
  }
  if (!res.ok) {
    await res.body?.cancel();
    opts.log?.(`Inception weights: download failed with HTTP ${res.status}`);
    return false;
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  const digest = await sha256Hex(bytes);
  if (!digest.startsWith(INCEPTION_SHA256_PREFIX)) {
    throw new Error(
      `downloaded Inception weights have SHA-256 ${digest}, expected ${INCEPTION_SHA256_PREFIX}...`,
    );
  }
  await Deno.mkdir(dirname(dest), { recursive: true });
  const tmp = `${dest}.part-${crypto.randomUUID()}`;
  await Deno.writeFile(tmp, bytes);
  await Deno.rename(tmp, dest);
  opts.log?.(`Inception weights downloaded to ${dest}`);
  return true;
}

/**
 * The weights file to use: `path` when given (must exist), else the cache-dir file, else (when
 * `download`) a fresh download into the cache dir. Throws `missingWeightsMessage` otherwise.
 */
export async function locateInceptionWeights(
  opts: { path?: string; download?: boolean; log?: (m: string) => void } = {},
): Promise<string> {
  if (opts.path) {
    if (!isFile(opts.path)) throw new Error(missingWeightsMessage([opts.path]));
    return opts.path;
  }
  const cached = defaultInceptionPath();
  if (isFile(cached)) return cached;
  if (opts.download && await downloadInceptionWeights(cached, { log: opts.log })) return cached;
  throw new Error(missingWeightsMessage([cached]));
}

/** Weights from a torch.save file (optionally gzip-compressed), plus the file's SHA-256. */
export async function loadInception(path: string): Promise<{ net: InceptionNet; sha256: string }> {
  let bytes: Uint8Array = await Deno.readFile(path);
  const sha256 = await sha256Hex(bytes);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = new Uint8Array(gunzipSync(bytes));
  return { net: inceptionFromStateDict(readTorchFile(bytes)), sha256 };
}

if (import.meta.main) {
  const dest = Deno.args[0] ?? defaultInceptionPath();
  if (isFile(dest)) {
    console.log(`already present: ${dest}`);
  } else if (!(await downloadInceptionWeights(dest, { log: console.log }))) {
    console.error(missingWeightsMessage([dest]));
    Deno.exit(1);
  }
}
