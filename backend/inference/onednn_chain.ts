/**
 * backend/inference/conv_chain.ts's compiled conv chain on oneDNN: one forward-inference conv
 * primitive per layer with bias and leaky ReLU fused into it as a post-op, weights reordered
 * once into the layout each primitive picked. An "upsample, then conv" layer is two convs at the low resolution (one
 * per output row parity, `upsampledPhases`) into a scratch buffer plus one strided copy that
 * interleaves them. Activations after plain convs stay in whatever layout oneDNN prefers; the
 * chain's input, output and upsampled activations are NHWC. Every buffer is bound to its memory
 * object at compile time, so a run is one `primitive_execute` per primitive and one wait.
 */
import {
  alignedFloats,
  type ChainConv,
  chainShapes,
  type ConvChain,
  upsampledPhases,
} from "./conv_chain.ts";
import { check, DNNL, type OneDnn, u8 } from "../onednn/ffi.ts";
import { descBytes, dims, memoryDesc, memoryDescByTag, nhwcDesc } from "../onednn/memory_desc.ts";
import {
  createPrimitive,
  destroyPrimitive,
  execute,
  implName,
  type Primitive,
  reluPostOp,
  reorderPrimitive,
} from "../onednn/primitive.ts";

/** A compiled layer: primitives in order, and which of their arguments are its input and output. */
interface Layer {
  prims: Primitive[];
  /** Built and run on one thread (too little work to pay for waking the others). */
  single: boolean;
  inputs: { prim: Primitive; arg: number }[];
  outputs: { prim: Primitive; arg: number }[];
}

/**
 * Layers whose primitives have fewer padded multiply-adds than this are built and run on one
 * thread: waking the other OpenMP thread and joining it costs more than it saves on so little
 * work (measured here: the first layers of a pruned 64² decoder, 0.1-1.6 M each, 0.195 -> 0.168
 * ms per image at batch 1; a threshold of 10 M slowed the teacher's larger layers down).
 */
const SINGLE_THREAD_WORK = 3e6;

export function compileOneDnnChain(
  d: OneDnn,
  layers: ChainConv[],
  inShape: [number, number, number, number],
): ConvChain {
  const shapes = chainShapes(layers, inShape);
  const compiled: Layer[] = [];
  const keep: Float32Array[] = []; // weights, biases and activations the primitives point at
  const impls = new Set<string>();
  let src = nhwcDesc(d, inShape);
  const bind = (p: Primitive, arg: number, buf: Float32Array) =>
    check(d.lib.dnnl_memory_set_data_handle(p.mems.get(arg)!, u8(buf)), "set_data_handle");
  /** One conv primitive with its weights (HWIO `f`) and bias bound; returns it. */
  const conv = (
    f: { shape: number[]; data: Float32Array },
    bias: Float32Array,
    dst: Uint8Array<ArrayBuffer>,
    pad: number[],
    alpha: number | null,
  ): Primitive => {
    const [kh, kw, cin, cout] = f.shape;
    const weiDims = [cout, cin, kh, kw];
    const desc = new Uint8Array(DNNL.convDescSize);
    check(
      d.lib.dnnl_dilated_convolution_forward_desc_init(
        desc,
        DNNL.forwardInference,
        DNNL.convolutionDirect,
        src,
        memoryDescByTag(d, weiDims, DNNL.formatAny),
        memoryDesc(d, [cout], [1]),
        dst,
        dims([1, 1]),
        dims([0, 0]),
        dims([pad[0], pad[2]]),
        dims([pad[1], pad[3]]),
      ),
      "convolution_forward_desc_init",
    );
    const p = createPrimitive(
      d,
      desc,
      [DNNL.argSrc, DNNL.argWeights, DNNL.argBias, DNNL.argDst],
      null,
      undefined,
      alpha === null ? null : reluPostOp(d, alpha),
    );
    impls.add(implName(d, p.pd));
    // Weights: HWIO as given, reordered once into the primitive's layout.
    const chosen = p.descs.get(DNNL.argWeights)!;
    const weights = alignedFloats(descBytes(d, chosen) / 4);
    const reorder = reorderPrimitive(
      d,
      memoryDesc(d, weiDims, [1, cout, kw * cin * cout, cin * cout]),
      chosen,
    );
    execute(d, reorder, [[DNNL.argFrom, f.data], [DNNL.argTo, weights]]);
    destroyPrimitive(d, reorder);
    const b = alignedFloats(cout);
    b.set(bias);
    bind(p, DNNL.argWeights, weights);
    bind(p, DNNL.argBias, b);
    keep.push(weights, b);
    return p;
  };
  // Buffers are bound once all primitives exist: layer outputs alternate between two buffers
  // (a layer reads one and writes the other), and the upsampling phases share one more.
  const phaseBinds: { prim: Primitive; arg: number; offset: number }[] = [];
  const sizes: number[] = [];
  let tempSize = 0;
  /** Layer i's primitives, weights bound; its output buffers are bound once all exist. */
  const buildLayer = (l: ChainConv, i: number, single: boolean) => {
    const last = i === layers.length - 1;
    const [n, h, w, c] = shapes[i];
    const r = (l.filter.shape[0] - 1) / 2;
    if (l.upsample) {
      // Two convs at the input resolution into a phase-major buffer [a, n, h/2, w/2, (b, c)]
      // (oneDNN's fast convs want a dense output), then one strided copy interleaves them:
      // channels (b, c) of phase a at input (i, j) are output pixel (2i + a, 2j + b).
      const [hi, wi] = [h / 2, w / 2];
      const phaseSize = n * hi * wi * 2 * c;
      tempSize = Math.max(tempSize, 2 * phaseSize);
      const bias2 = new Float32Array(2 * c);
      bias2.set(l.bias);
      bias2.set(l.bias, c);
      const phaseDst = nhwcDesc(d, [n, hi, wi, 2 * c]);
      const phases = upsampledPhases(l.filter).map((ph, a) => {
        const p = conv(ph, bias2, phaseDst, ph.pad, l.alpha);
        phaseBinds.push({ prim: p, arg: DNNL.argDst, offset: a * phaseSize });
        return p;
      });
      const dimsNHAWX = [n, hi, 2, wi, 2 * c];
      const interleave = reorderPrimitive(
        d,
        memoryDesc(d, dimsNHAWX, [hi * wi * 2 * c, wi * 2 * c, phaseSize, 2 * c, 1]),
        memoryDesc(d, dimsNHAWX, [h * w * c, 2 * w * c, w * c, 2 * c, 1]),
      );
      impls.add(implName(d, interleave.pd));
      phaseBinds.push({ prim: interleave, arg: DNNL.argFrom, offset: 0 });
      const layer: Layer = {
        single,
        prims: [...phases, interleave],
        inputs: phases.map((prim) => ({ prim, arg: DNNL.argSrc })),
        outputs: [{ prim: interleave, arg: DNNL.argTo }],
      };
      return { layer, dstDesc: nhwcDesc(d, shapes[i]) };
    }
    const dst = last ? nhwcDesc(d, shapes[i]) : memoryDescByTag(d, [n, c, h, w], DNNL.formatAny);
    const p = conv(l.filter, l.bias, dst, [r, r, r, r], l.alpha);
    const layer: Layer = {
      single,
      prims: [p],
      inputs: [{ prim: p, arg: DNNL.argSrc }],
      outputs: [{ prim: p, arg: DNNL.argDst }],
    };
    return { layer, dstDesc: p.descs.get(DNNL.argDst)! };
  };
  const omp = d.omp;
  const threads = omp?.omp_get_max_threads() ?? 1;
  layers.forEach((l, i) => {
    const [n, h, w, c] = shapes[i], k = l.filter.shape[0], cin = l.filter.shape[2];
    // Multiply-adds of the layer's largest primitive, output channels padded to 16 (the vector
    // width of the kernels); an upsampling layer's phase convs are (k+1)/2 x k filters with
    // 2c outputs at a quarter of the positions.
    const pad16 = (x: number) => Math.ceil(x / 16) * 16;
    const work = l.upsample
      ? (n * h * w / 4) * ((k + 1) / 2) * k * cin * pad16(2 * c)
      : n * h * w * k * k * cin * pad16(c);
    // oneDNN sizes a conv's thread split when the primitive is built: build it for one thread.
    const single = omp !== null && threads > 1 && work < SINGLE_THREAD_WORK;
    if (single) omp.omp_set_num_threads(1);
    try {
      const { layer, dstDesc } = buildLayer(l, i, single);
      sizes.push(descBytes(d, dstDesc) / 4);
      compiled.push(layer);
      src = dstDesc;
    } finally {
      if (single) omp.omp_set_num_threads(threads);
    }
  });
  const inner = sizes.slice(0, -1);
  const pingPong = [0, 1].map((j) =>
    alignedFloats(Math.max(0, ...inner.filter((_, i) => i % 2 === j)))
  );
  const temp = alignedFloats(tempSize);
  keep.push(...pingPong, temp);
  for (const { prim, arg, offset } of phaseBinds) bind(prim, arg, temp.subarray(offset));
  compiled.forEach((layer, i) => {
    if (i > 0) { for (const { prim, arg } of layer.inputs) bind(prim, arg, pingPong[(i - 1) % 2]); }
    if (i < compiled.length - 1) {
      for (const { prim, arg } of layer.outputs) bind(prim, arg, pingPong[i % 2]);
    }
  });
  const outShape = shapes[shapes.length - 1];
  const outSize = outShape.reduce((a, b) => a * b, 1);
  const inSize = inShape.reduce((a, b) => a * b, 1);
  const ups = layers.filter((l) => l.upsample).length;
  const prims = compiled.flatMap((l) => l.prims);
  let disposed = false;
  return {
    inShape,
    outShape,
    engine: `oneDNN ${d.version}: ${layers.length - ups} conv + ${ups} upsampling conv as ` +
      `${2 * ups} phase convs + ${ups} interleaving copies, ` +
      `${compiled.filter((l) => l.single).length} layers on one thread (${[...impls].join(", ")})`,
    run(x, out) {
      if (disposed) throw new Error("conv chain: run after dispose");
      if (x.length !== inSize) {
        throw new Error(`conv chain: input has ${x.length} values, expected ${inSize}`);
      }
      const y = out ?? alignedFloats(outSize);
      if (y.length !== outSize) {
        throw new Error(`conv chain: output has ${y.length} values, expected ${outSize}`);
      }
      for (const { prim, arg } of compiled[0].inputs) bind(prim, arg, x);
      for (const { prim, arg } of compiled[compiled.length - 1].outputs) bind(prim, arg, y);
      let now = threads;
      try {
        for (const l of compiled) {
          const want = l.single ? 1 : threads;
          if (want !== now) omp!.omp_set_num_threads(now = want);
          for (const p of l.prims) {
            check(
              d.lib.dnnl_primitive_execute(p.prim, d.stream, p.mems.size, p.args),
              "primitive_execute",
            );
          }
        }
        check(d.lib.dnnl_stream_wait(d.stream), "stream_wait");
      } finally {
        if (now !== threads) omp!.omp_set_num_threads(threads);
      }
      return y;
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const p of prims) destroyPrimitive(d, p);
      keep.length = 0;
    },
  };
}
