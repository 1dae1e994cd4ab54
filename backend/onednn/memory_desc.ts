/**
 * oneDNN memory descriptors (dnnl_memory_desc_t, by value): float32 tensors described by strides
 * (so tfjs's NHWC buffers are used in place) or by format tag (`any`: the primitive picks).
 */
import { check, DNNL, type OneDnn, u8 } from "./ffi.ts";

/** dnnl_dims_t: int64[12]. */
export function dims(values: number[]): Uint8Array<ArrayBuffer> {
  const a = new BigInt64Array(12);
  values.forEach((v, i) => (a[i] = BigInt(v)));
  return u8(a);
}

/** A float32 memory descriptor with logical dims and element strides. */
export function memoryDesc(
  d: OneDnn,
  logical: number[],
  strides: number[],
): Uint8Array<ArrayBuffer> {
  const md = new Uint8Array(DNNL.mdSize);
  check(
    d.lib.dnnl_memory_desc_init_by_strides(
      md,
      logical.length,
      dims(logical),
      DNNL.f32,
      dims(strides),
    ),
    "memory_desc_init_by_strides",
  );
  return md;
}

/** tfjs's NHWC activations [n, h, w, c] as oneDNN's logical NCHW dims with NHWC strides. */
export function nhwcDesc(d: OneDnn, [n, h, w, c]: number[]): Uint8Array<ArrayBuffer> {
  return memoryDesc(d, [n, c, h, w], [h * w * c, 1, w * c, c]);
}

/** A float32 memory descriptor with a format tag (`DNNL.formatAny` lets a primitive choose). */
export function memoryDescByTag(
  d: OneDnn,
  logical: number[],
  tag: number,
): Uint8Array<ArrayBuffer> {
  const md = new Uint8Array(DNNL.mdSize);
  check(
    d.lib.dnnl_memory_desc_init_by_tag(md, logical.length, dims(logical), DNNL.f32, tag),
    "memory_desc_init_by_tag",
  );
  return md;
}

export function sameDesc(d: OneDnn, a: Uint8Array<ArrayBuffer>, b: Uint8Array<ArrayBuffer>) {
  return d.lib.dnnl_memory_desc_equal(a, b) !== 0;
}

/** Bytes a memory descriptor's buffer needs. */
export function descBytes(d: OneDnn, md: Uint8Array<ArrayBuffer>): number {
  return Number(d.lib.dnnl_memory_desc_get_size(md));
}
