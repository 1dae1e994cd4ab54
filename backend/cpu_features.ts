/**
 * The CPU's feature flags, as /proc/cpuinfo lists them (e.g. "avx512_bf16"): read directly, or
 * through `cat` where Deno's permissions refuse /proc (it allows /proc/cpuinfo only with
 * --allow-all); an empty set where neither works (not Linux, no --allow-run).
 */

let cached: Set<string> | undefined;

/** This machine's flags (read once). */
export function cpuFlags(): Set<string> {
  if (cached) return cached;
  try {
    cached = flagsOf(readProcCpuinfo());
  } catch {
    cached = new Set();
  }
  return cached;
}

/** The flags of the first `flags` line of a /proc/cpuinfo text. */
export function flagsOf(cpuinfo: string): Set<string> {
  const line = cpuinfo.match(/^flags\s*:\s*(.*)$/m)?.[1] ?? "";
  return new Set(line.split(/\s+/).filter((f) => f !== ""));
}

/** /proc/cpuinfo's text; throws where it cannot be read. */
export function readProcCpuinfo(): string {
  try {
    return Deno.readTextFileSync("/proc/cpuinfo");
  } catch {
    const out = new Deno.Command("cat", { args: ["/proc/cpuinfo"], stdout: "piped" }).outputSync();
    if (!out.success) throw new Error("/proc/cpuinfo cannot be read");
    return new TextDecoder().decode(out.stdout);
  }
}
