import { assertEquals } from "../tests/assert.ts";
import { floatsFromCpuinfo, floatsFromIsa } from "./simd.ts";

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

Deno.test("simd lanes from oneDNN's ISA values (dnnl_types.h of oneDNN 2.6)", () => {
  // sse41, avx, avx2, avx2_vnni, avx512_mic, avx512_core, _vnni, _bf16, _amx.
  const isa = [0x1, 0x3, 0x7, 0x407, 0xf, 0x27, 0x67, 0xe7, 0x3e7];
  assertEquals(isa.map(floatsFromIsa), [4, 8, 8, 8, 16, 16, 16, 16, 16]);
});
