/**
 * oneDNN memory descriptors (dnnl_memory_desc_t, by value): tensors described by strides (so
 * tfjs's NHWC buffers are used in place) or by format tag (`any`: the primitive picks); float32
 * unless a data type is given (bf16 copies for reduced-precision training, bf16.ts).
 */
import { check, DNNL, type OneDnn, u8 } from "./ffi.ts";

/** dnnl_dims_t: int64[12]. */
export function dims(values: number[]): Uint8Array<ArrayBuffer> {
  const a = new BigInt64Array(12);
  values.forEach((v, i) => (a[i] = BigInt(v)));
  return u8(a);
}

/** A memory descriptor (float32 unless `dataType`) with logical dims and element strides. */
export function memoryDesc(
  d: OneDnn,
  logical: number[],
  strides: number[],
  dataType: number = DNNL.f32,
): Uint8Array<ArrayBuffer> {
  const md = new Uint8Array(DNNL.mdSize);
  check(
    d.lib.dnnl_memory_desc_init_by_strides(
      md,
      logical.length,
      dims(logical),
      dataType,
      dims(strides),
    ),
    "memory_desc_init_by_strides",
  );
  return md;
}

/** tfjs's NHWC activations [n, h, w, c] as oneDNN's logical NCHW dims with NHWC strides. */
export function nhwcDesc(
  d: OneDnn,
  [n, h, w, c]: number[],
  dataType: number = DNNL.f32,
): Uint8Array<ArrayBuffer> {
  return memoryDesc(d, [n, c, h, w], [h * w * c, 1, w * c, c], dataType);
}

/**
 * A memory descriptor (float32 unless `dataType`) with a format tag (`DNNL.formatAny` lets a
 * primitive choose).
 */
export function memoryDescByTag(
  d: OneDnn,
  logical: number[],
  tag: number,
  dataType: number = DNNL.f32,
): Uint8Array<ArrayBuffer> {
  const md = new Uint8Array(DNNL.mdSize);
  check(
    d.lib.dnnl_memory_desc_init_by_tag(md, logical.length, dims(logical), dataType, tag),
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
