/**
 * How many float32 lanes this CPU's vector unit has, for cost models that round channel counts
 * up to what a conv kernel computes at once (oneDNN's x86 kernels: 16 with AVX-512, 8 with
 * AVX/AVX2, 4 with SSE4.1). Asked of oneDNN (the ISA its kernels actually use), else read from
 * /proc/cpuinfo's flags (which Deno only allows with --allow-all), else 8.
 */
import { loadOneDnn } from "./onednn/ffi.ts";

export function simdFloats(): number {
  const d = loadOneDnn();
  if (d) return floatsFromIsa(d.lib.dnnl_get_effective_cpu_isa());
  try {
    return floatsFromCpuinfo(Deno.readTextFileSync("/proc/cpuinfo"));
  } catch {
    return 8;
  }
}

/**
 * Lanes for a `dnnl_cpu_isa_t` (a bit set: 0x2 AVX, 0x8 AVX-512 MIC, 0x20 AVX-512 core and
 * everything above it).
 */
export function floatsFromIsa(isa: number): number {
  if (isa & (0x8 | 0x20)) return 16;
  if (isa & 0x2) return 8;
  return 4;
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
