/**
 * A chain of "same"-padded convolutions for inference (a decoder: [upsample] conv + bias +
 * leaky ReLU, ..., conv + bias), compiled once for one input shape and run many times.
 *
 * On the onednn backend the chain becomes a fixed list of oneDNN primitives with their weights
 * reordered and their activation buffers bound at compile time (onednn_chain.ts; compiled
 * and run by chain_runner.ts):
 * a run is one library call per layer, with none of tfjs's per-op bookkeeping, and a nearest 2x
 * upsampling followed by a k x k conv runs as two convs at the low resolution that write the
 * upsampled output's even and odd rows (`upsampledPhases`): 1.5x fewer multiply-adds for k = 3,
 * and the upsampled tensor is never built. Elsewhere the chain runs as the equivalent tfjs ops.
 */
import * as tf from "@tensorflow/tfjs";

/**
 * A Float32Array of `n` values starting on a 64-byte boundary (a cache line, an AVX-512
 * vector). Typed arrays are only 16-byte aligned, and oneDNN's kernels ran this decoder's
 * small-channel layers up to 1.8x slower on a misaligned buffer: timings of the same chain
 * flipped between two speeds from one allocation to the next. Never inside V8's heap (where a
 * garbage collection could move it), so native code may keep its address.
 */
export function alignedFloats(n: number): Float32Array {
  const buf = new Float32Array(n + 32);
  let addr = 0;
  try {
    addr = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)) % 64n);
  } catch {
    // No FFI permission: no native code will use the buffer either.
  }
  const skip = ((64 - addr) % 64) / 4;
  return buf.subarray(skip, skip + n);
}

export interface ChainConv {
  /** Filter [k, k, cin, cout] (HWIO), odd k; stride 1, zero padding (k - 1) / 2 ("same"). */
  filter: { shape: number[]; data: Float32Array };
  bias: Float32Array;
  /** Nearest-neighbour 2x upsampling of this conv's input first. */
  upsample: boolean;
  /** Leaky ReLU slope after the bias (0: ReLU); null: linear. */
  alpha: number | null;
}

export interface ConvChain {
  readonly inShape: [number, number, number, number];
  readonly outShape: [number, number, number, number];
  /** Which implementation runs it (e.g. "oneDNN: 3 conv + 3 transposed conv"). */
  readonly engine: string;
  /** Runs one NHWC batch of `inShape`; writes into `out` when given, else a new array. */
  run(x: Float32Array, out?: Float32Array): Float32Array;
  dispose(): void;
}

/** Output shape of the chain for an NHWC input, checking that the layers fit together. */
export function chainShapes(
  layers: ChainConv[],
  inShape: [number, number, number, number],
): [number, number, number, number][] {
  let [n, h, w, c] = inShape;
  return layers.map((l, i) => {
    const [kh, kw, cin, cout] = l.filter.shape;
    if (kh !== kw || kh % 2 !== 1) {
      throw new Error(`conv chain: layer ${i} has a ${kh}x${kw} filter (square, odd size only)`);
    }
    if (cin !== c) {
      throw new Error(`conv chain: layer ${i} takes ${cin} channels but gets ${c}`);
    }
    if (l.bias.length !== cout) {
      throw new Error(`conv chain: layer ${i} has ${l.bias.length} biases for ${cout} channels`);
    }
    if (l.upsample) [h, w] = [2 * h, 2 * w];
    c = cout;
    return [n, h, w, c];
  });
}

/**
 * Nearest 2x upsampling followed by the k x k "same" conv `f` [k, k, cin, cout], as two convs
 * at the input's resolution, one per output row parity a (rows 2i + a): output row 2i + a reads
 * upsampled rows 2i + a + dy (|dy| <= r = (k - 1) / 2), i.e. input rows i + floor((a + dy) / 2),
 * so f's rows that land on the same input row are summed into one tap. Columns likewise, with
 * both column parities b side by side as 2 * cout output channels (b, c): written with a row
 * stride of two output rows, the two convs fill the upsampled output in place. For k = 3 each
 * phase is a 2 x 3 filter: 24 instead of 36 multiply-adds per input pixel and channel pair, and
 * the upsampled input is never built. `pad` is [top, bottom, left, right].
 */
export function upsampledPhases(
  f: { shape: number[]; data: Float32Array },
): { shape: number[]; data: Float32Array; pad: number[] }[] {
  const [k, , cin, cout] = f.shape;
  const r = (k - 1) / 2;
  /** Input offset of each of f's taps for output parity `a`. */
  const offsets = (a: number) => Array.from({ length: k }, (_, t) => Math.floor((a + t - r) / 2));
  const colLo = Math.min(...offsets(0), ...offsets(1));
  const colHi = Math.max(...offsets(0), ...offsets(1));
  const kw = colHi - colLo + 1;
  return [0, 1].map((a) => {
    const rows = offsets(a);
    const rowLo = Math.min(...rows), kh = Math.max(...rows) - rowLo + 1;
    const data = new Float32Array(kh * kw * cin * 2 * cout);
    for (let i = 0; i < k; i++) {
      for (let b = 0; b < 2; b++) {
        const cols = offsets(b);
        for (let j = 0; j < k; j++) {
          const tap = (rows[i] - rowLo) * kw + (cols[j] - colLo);
          for (let ci = 0; ci < cin; ci++) {
            const src = ((i * k + j) * cin + ci) * cout;
            const dst = (tap * cin + ci) * 2 * cout + b * cout;
            for (let c = 0; c < cout; c++) data[dst + c] += f.data[src + c];
          }
        }
      }
    }
    return {
      shape: [kh, kw, cin, 2 * cout],
      data,
      pad: [Math.max(0, -rowLo), Math.max(...rows), Math.max(0, -colLo), colHi],
    };
  });
}

/** A chain's weights as tensors, kept out of any enclosing tidy (the caller disposes them). */
export function keptChainWeights(layers: ChainConv[]): ChainWeights {
  return layers.map((l) => ({
    filter: tf.keep(tf.tensor4d(l.filter.data, l.filter.shape as [number, number, number, number])),
    bias: tf.keep(tf.tensor1d(l.bias)),
  }));
}

export type ChainWeights = { filter: tf.Tensor4D; bias: tf.Tensor1D }[];

/** The layers applied to `x` as tfjs ops (nearest upsample, fused conv + bias + activation). */
export function chainOps(layers: ChainConv[], weights: ChainWeights, x: tf.Tensor4D): tf.Tensor4D {
  let h = x;
  layers.forEach((l, i) => {
    if (l.upsample) h = tf.image.resizeNearestNeighbor(h, [2 * h.shape[1], 2 * h.shape[2]]);
    h = tf.fused.conv2d({
      x: h,
      filter: weights[i].filter,
      bias: weights[i].bias,
      strides: 1,
      pad: "same",
      activation: l.alpha === null ? "linear" : "leakyrelu",
      leakyreluAlpha: l.alpha ?? undefined,
    });
  });
  return h;
}

/** The chain as tfjs ops (any backend): the reference the compiled chain is tested against. */
export function tfjsChain(
  layers: ChainConv[],
  inShape: [number, number, number, number],
): ConvChain {
  const shapes = chainShapes(layers, inShape);
  // Kept: a chain may be compiled inside a caller's tidy (the first run of a ChainRunner.run),
  // which must not free the weights its later runs use.
  const weights = keptChainWeights(layers);
  return {
    inShape,
    outShape: shapes[shapes.length - 1],
    engine: `tfjs ${tf.getBackend()} ops`,
    run(x, out) {
      const y = tf.tidy(() => chainOps(layers, weights, tf.tensor4d(x, inShape)));
      const data = y.dataSync() as Float32Array;
      y.dispose();
      if (!out) return Float32Array.from(data);
      out.set(data);
      return out;
    },
    dispose() {
      for (const w of weights) tf.dispose([w.filter, w.bias]);
    },
  };
}
