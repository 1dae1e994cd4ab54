/**
 * Ascending sort of float32 values by LSD radix on their bit patterns (3 passes of 11, 11 and 10
 * bits). SWD sorts hundreds of projections of ~10^5 values per level; this is ~2.5x faster than
 * `Float32Array.prototype.sort` and gives the same order (-0 before +0). NaNs are not expected
 * (projections of finite descriptors); they would sort to the ends by sign.
 */
export class RadixSorter {
  private keys = new Uint32Array(0);
  private tmp = new Uint32Array(0);
  private readonly counts = [new Uint32Array(2048), new Uint32Array(2048), new Uint32Array(1024)];

  /** Writes `src` sorted ascending into `dst` (same length; may be `src` itself). */
  sort(src: Float32Array, dst: Float32Array): Float32Array {
    const n = src.length;
    if (dst.length !== n) throw new Error(`radix sort: dst has ${dst.length} values, src ${n}`);
    if (this.keys.length < n) {
      this.keys = new Uint32Array(n);
      this.tmp = new Uint32Array(n);
    }
    const keys = this.keys, tmp = this.tmp;
    const [c0, c1, c2] = this.counts;
    c0.fill(0);
    c1.fill(0);
    c2.fill(0);
    const bits = new Uint32Array(src.buffer, src.byteOffset, n);
    // Order-preserving map from float bits to unsigned ints: negatives flipped whole, positives
    // get the sign bit set.
    for (let i = 0; i < n; i++) {
      const v = bits[i];
      const k = (v & 0x80000000 ? ~v : v | 0x80000000) >>> 0;
      keys[i] = k;
      c0[k & 2047]++;
      c1[(k >>> 11) & 2047]++;
      c2[k >>> 22]++;
    }
    toOffsets(c0);
    toOffsets(c1);
    toOffsets(c2);
    for (let i = 0; i < n; i++) {
      const k = keys[i];
      tmp[c0[k & 2047]++] = k;
    }
    for (let i = 0; i < n; i++) {
      const k = tmp[i];
      keys[c1[(k >>> 11) & 2047]++] = k;
    }
    for (let i = 0; i < n; i++) {
      const k = keys[i];
      tmp[c2[k >>> 22]++] = k;
    }
    const out = new Uint32Array(dst.buffer, dst.byteOffset, n);
    for (let i = 0; i < n; i++) {
      const k = tmp[i];
      out[i] = (k & 0x80000000 ? k & 0x7fffffff : ~k) >>> 0;
    }
    return dst;
  }
}

/** Counts -> exclusive prefix sums (each bucket's first output index). */
function toOffsets(counts: Uint32Array): void {
  let sum = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i];
    counts[i] = sum;
    sum += c;
  }
}
