/**
 * oneDNN primitives: creation from a primitive descriptor (with one memory object per argument),
 * execution on tfjs's buffers, the attributes we use (accumulate, fused leaky ReLU) and reorders.
 */
import { check, DNNL, type OneDnn, u8 } from "./ffi.ts";

/** A ready primitive plus one memory object per argument, re-pointed at each call. */
export interface Primitive {
  prim: Deno.PointerValue;
  pd: Deno.PointerValue;
  mems: Map<number, Deno.PointerValue>;
  /** The memory descriptor of each argument, as the primitive chose it. */
  descs: Map<number, Uint8Array<ArrayBuffer>>;
  args: Uint8Array<ArrayBuffer>;
}

/** The implementation oneDNN picked (e.g. "jit:avx512_core", "x64:gemm:jit"). */
export function implName(d: OneDnn, pd: Deno.PointerValue): string {
  const out = new BigUint64Array(1);
  check(d.lib.dnnl_primitive_desc_query(pd, DNNL.queryImplInfoStr, 0, u8(out)), "query impl");
  return Deno.UnsafePointerView.getCString(Deno.UnsafePointer.create(out[0])!);
}

/**
 * Builds the primitive for `opDesc` (null: `pdOut` already holds a primitive descriptor, as for
 * reorders) with one memory object for each of `argIds`, described as the primitive expects.
 */
export function createPrimitive(
  d: OneDnn,
  opDesc: Uint8Array<ArrayBuffer> | null,
  argIds: number[],
  hint: Deno.PointerValue = null,
  pdOut = new BigUint64Array(1),
  attr: Deno.PointerValue = null,
): Primitive {
  if (opDesc) {
    check(
      d.lib.dnnl_primitive_desc_create(u8(pdOut), opDesc, attr, d.engine, hint),
      "primitive_desc_create",
    );
  }
  const pd = Deno.UnsafePointer.create(pdOut[0]);
  const primOut = new BigUint64Array(1);
  check(d.lib.dnnl_primitive_create(u8(primOut), pd), "primitive_create");
  const mems = new Map<number, Deno.PointerValue>();
  const descs = new Map<number, Uint8Array<ArrayBuffer>>();
  const args = new Uint8Array(16 * argIds.length);
  const view = new DataView(args.buffer);
  argIds.forEach((arg, i) => {
    const mdPtr = d.lib.dnnl_primitive_desc_query_md(pd, DNNL.queryExecArgMd, arg);
    if (!mdPtr) throw new Error(`oneDNN primitive has no argument ${arg}`);
    const md = new Uint8Array(DNNL.mdSize);
    Deno.UnsafePointerView.copyInto(mdPtr, md);
    descs.set(arg, md);
    const memOut = new BigUint64Array(1);
    // DNNL_MEMORY_NONE (null handle) now; the real buffer is set right before each execution.
    check(d.lib.dnnl_memory_create(u8(memOut), md, d.engine, null), "memory_create");
    mems.set(arg, Deno.UnsafePointer.create(memOut[0]));
    view.setInt32(16 * i, arg, true);
    view.setBigUint64(16 * i + 8, memOut[0], true);
  });
  return { prim: Deno.UnsafePointer.create(primOut[0]), pd, mems, descs, args };
}

/** Frees a primitive, its descriptor and its memory objects (not the buffers they point at). */
export function destroyPrimitive(d: OneDnn, p: Primitive): void {
  for (const m of p.mems.values()) d.lib.dnnl_memory_destroy(m);
  d.lib.dnnl_primitive_destroy(p.prim);
  d.lib.dnnl_primitive_desc_destroy(p.pd);
}

let accumulateAttr: Deno.PointerValue | undefined;

/** Primitive attributes with one post-op, sum: dst = op(...) + dst. */
function accumulate(d: OneDnn): Deno.PointerValue {
  if (accumulateAttr === undefined) {
    const attrOut = new BigUint64Array(1), poOut = new BigUint64Array(1);
    check(d.lib.dnnl_primitive_attr_create(u8(attrOut)), "primitive_attr_create");
    check(d.lib.dnnl_post_ops_create(u8(poOut)), "post_ops_create");
    const po = Deno.UnsafePointer.create(poOut[0]);
    check(d.lib.dnnl_post_ops_append_sum(po, 1), "post_ops_append_sum");
    accumulateAttr = Deno.UnsafePointer.create(attrOut[0]);
    check(d.lib.dnnl_primitive_attr_set_post_ops(accumulateAttr, po), "attr_set_post_ops");
  }
  return accumulateAttr;
}

const reluAttrs = new Map<number, Deno.PointerValue>();

/**
 * Primitive attributes with one post-op, (leaky) ReLU: dst = max(y, 0) + alpha * min(y, 0) of
 * the op's result y, applied while y is still in registers (conv + bias + activation in one
 * pass over memory). Kept for the process, one per alpha.
 */
export function reluPostOp(d: OneDnn, alpha: number): Deno.PointerValue {
  let attr = reluAttrs.get(alpha);
  if (attr === undefined) {
    const attrOut = new BigUint64Array(1), poOut = new BigUint64Array(1);
    check(d.lib.dnnl_primitive_attr_create(u8(attrOut)), "primitive_attr_create");
    check(d.lib.dnnl_post_ops_create(u8(poOut)), "post_ops_create");
    const po = Deno.UnsafePointer.create(poOut[0]);
    check(
      d.lib.dnnl_post_ops_append_eltwise(po, 1, DNNL.eltwiseRelu, alpha, 0),
      "post_ops_append_eltwise",
    );
    attr = Deno.UnsafePointer.create(attrOut[0]);
    check(d.lib.dnnl_primitive_attr_set_post_ops(attr, po), "attr_set_post_ops");
    reluAttrs.set(alpha, attr);
  }
  return attr;
}

/**
 * A reorder (layout conversion, or any strided copy) from `src` to `dst`; with `add`, it adds
 * into `dst` instead of overwriting it.
 */
export function reorderPrimitive(
  d: OneDnn,
  src: Uint8Array<ArrayBuffer>,
  dst: Uint8Array<ArrayBuffer>,
  add = false,
): Primitive {
  const pdOut = new BigUint64Array(1);
  check(
    d.lib.dnnl_reorder_primitive_desc_create(
      u8(pdOut),
      src,
      d.engine,
      dst,
      d.engine,
      add ? accumulate(d) : null,
    ),
    "reorder_primitive_desc_create",
  );
  return createPrimitive(d, null, [DNNL.argFrom, DNNL.argTo], null, pdOut);
}

/**
 * Points each argument at its buffer (float32, or a Uint16Array of bf16 values where the
 * primitive's argument is bf16) and runs the primitive synchronously.
 */
export function execute(
  d: OneDnn,
  p: Primitive,
  buffers: [number, Float32Array | Uint16Array][],
): void {
  for (const [arg, buf] of buffers) {
    check(d.lib.dnnl_memory_set_data_handle(p.mems.get(arg)!, u8(buf)), "set_data_handle");
  }
  check(d.lib.dnnl_primitive_execute(p.prim, d.stream, p.mems.size, p.args), "primitive_execute");
  check(d.lib.dnnl_stream_wait(d.stream), "stream_wait");
}
