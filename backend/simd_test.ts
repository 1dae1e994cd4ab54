import { assertEquals } from "../tests/assert.ts";
import { floatsFromCpuinfo } from "./simd.ts";

Deno.test("simd lanes from /proc/cpuinfo flags", () => {
  const cpu = (flags: string) =>
    `processor\t: 0\nmodel name\t: X\nflags\t\t: ${flags}\nbugs\t\t:\n`;
  assertEquals(floatsFromCpuinfo(cpu("fpu sse sse2 avx avx2 fma avx512f avx512bw")), 16);
  assertEquals(floatsFromCpuinfo(cpu("fpu sse sse2 avx avx2 fma")), 8);
  assertEquals(floatsFromCpuinfo(cpu("fpu sse sse2")), 4);
  // avx512_bf16 and friends alone do not make AVX-512 F.
  assertEquals(floatsFromCpuinfo(cpu("fpu sse2 avx2 avx512_bf16")), 8);
  assertEquals(floatsFromCpuinfo("no flags here"), 8);
});
