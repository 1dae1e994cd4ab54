/**
 * Where bf16 runs and what a request for it gives elsewhere: fp32 and one note (the CPU's flags,
 * oneDNN's ISA and the backend are injected, so every path runs on any machine).
 */
import { assert, assertEquals } from "../tests/assert.ts";
import { bf16Unavailable, type PrecisionEnv, usePrecision } from "./precision.ts";
import { bf16Enabled } from "./onednn/bf16.ts";
import { flagsOf } from "./cpu_features.ts";

const AVX512_CORE = 0x27, AVX512_CORE_BF16 = 0xe7, AVX512_CORE_AMX = 0x3e7; // dnnl_cpu_isa_t
const env = (backend: string, flags: string[], isa: number | null): PrecisionEnv => ({
  backend,
  cpuFlags: new Set(flags),
  oneDnnIsa: isa,
});

Deno.test("bf16 runs on onednn where the CPU has AVX-512 BF16 or AMX and oneDNN uses it", () => {
  assertEquals(bf16Unavailable(env("onednn", ["avx512f", "avx512_bf16"], AVX512_CORE_BF16)), null);
  assertEquals(bf16Unavailable(env("onednn", ["amx_bf16"], AVX512_CORE_AMX)), null);
  assert(bf16Unavailable(env("onednn", ["avx512f", "avx2"], AVX512_CORE))!.includes("avx512_bf16"));
  // The CPU has it but oneDNN was capped below it (ONEDNN_MAX_CPU_ISA).
  assert(bf16Unavailable(env("onednn", ["avx512_bf16"], AVX512_CORE))!.includes("oneDNN"));
  for (const b of ["cpu", "webgpu", "tensorflow"]) {
    assert(bf16Unavailable(env(b, ["avx512_bf16"], null))!.includes(`uses ${b}`));
  }
});

Deno.test("a bf16 request without bf16 on this CPU prints one note and runs fp32", () => {
  const lines: string[] = [];
  const scope = usePrecision("bf16", {
    env: env("onednn", ["avx2", "fma"], AVX512_CORE),
    log: (l) => lines.push(l),
  });
  try {
    assertEquals(scope.precision, "fp32");
    assertEquals(bf16Enabled(), false);
    assertEquals(lines.length, 1);
    assertEquals(scope.note, lines[0]);
    assert(/bf16 requested.*avx512_bf16.*runs in fp32/.test(lines[0]), lines[0]);
  } finally {
    scope.end();
  }
});

Deno.test("usePrecision turns bf16 on until end(), and fp32 prints nothing", () => {
  const lines: string[] = [];
  const log = (l: string) => lines.push(l);
  const scope = usePrecision("bf16", {
    env: env("onednn", ["avx512_bf16"], AVX512_CORE_BF16),
    log,
  });
  assertEquals([scope.precision, scope.note, bf16Enabled()], ["bf16", null, true]);
  const inner = usePrecision("fp32", { log });
  assertEquals([inner.precision, bf16Enabled()], ["fp32", false]);
  inner.end();
  assertEquals(bf16Enabled(), true);
  scope.end();
  assertEquals(bf16Enabled(), false);
  assertEquals(lines, []);
});

Deno.test("flagsOf reads the first flags line of /proc/cpuinfo", () => {
  const text = "processor\t: 0\nmodel name\t: X\nflags\t\t: fpu avx2 avx512_bf16\n\n" +
    "processor\t: 1\nflags\t\t: fpu\n";
  assertEquals([...flagsOf(text)], ["fpu", "avx2", "avx512_bf16"]);
  assertEquals(flagsOf("no flags here").size, 0);
});
