/**
 * How many float32 lanes this CPU's vector unit has, for cost models that round channel counts
 * up to what a conv kernel computes at once (oneDNN's x86 kernels: 16 with AVX-512, 8 with
 * AVX/AVX2, 4 with SSE). Read from /proc/cpuinfo's flags; 8 where that cannot be read.
 */
export function simdFloats(): number {
  try {
    return floatsFromCpuinfo(Deno.readTextFileSync("/proc/cpuinfo"));
  } catch {
    return 8;
  }
}

/** The lanes for the first `flags` line of a /proc/cpuinfo text. */
export function floatsFromCpuinfo(text: string): number {
  const line = text.split("\n").find((l) => /^flags\s*:/.test(l));
  if (!line) return 8;
  const flags = new Set(line.split(":")[1].trim().split(/\s+/));
  if (flags.has("avx512f")) return 16;
  if (flags.has("avx2") || flags.has("avx")) return 8;
  return 4;
}
