/** The CLI as a user runs it, for the stage tests: `deno run -A main.ts ...`, colours off. */

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

export interface CliResult {
  ok: boolean;
  /** stdout then stderr. */
  text: string;
  stderr: string;
}

export async function runCli(...args: string[]): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { NO_COLOR: "1" },
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  return { ok: out.success, text: new TextDecoder().decode(out.stdout) + stderr, stderr };
}

/**
 * `--set` flags for a pixel-space training run small enough for a test: 16 procedural images at
 * 16x16, two steps of a narrow GAN; `overrides` (same keys) change or add settings.
 */
export function tinyPixelRun(overrides: Record<string, unknown> = {}): string[] {
  return Object.entries({
    "prepare.source": "procedural",
    "prepare.limit": 16,
    "prepare.resolution": 16,
    "train-generator.space": "pixel",
    "train-generator.steps": 2,
    "train-generator.batch": 4,
    "train-generator.baseChannels": 8,
    "train-generator.sampleEvery": 2,
    "train-generator.checkpointEvery": 2,
    ...overrides,
  }).flatMap(([k, v]) => ["--set", `${k}=${v}`]);
}
