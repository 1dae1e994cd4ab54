/**
 * Builds a throwaway project of toy stages in a temp dir and runs the real CLI on it in a
 * subprocess, so tests see exactly what a user would (including fresh module loading after
 * code edits, SIGKILL, and two processes sharing a store).
 */
import { join } from "node:path";

const REPO = new URL("../../", import.meta.url);
export const STAGE_TS = new URL("pipeline/stage.ts", REPO).href;
export const ZOD = new URL("pipeline/testing/zod.ts", REPO).href;
const MAIN = new URL("main.ts", REPO).pathname;

export interface Toy {
  dir: string;
  write(rel: string, text: string): Promise<void>;
  read(rel: string): Promise<string>;
  cli(args: string[], env?: Record<string, string>): Promise<CliResult>;
  spawn(args: string[], env?: Record<string, string>): Deno.ChildProcess;
  /** Stage -> outcome from the summary table of a run's stdout. */
  outcomes(stdout: string): Record<string, string>;
  cleanup(): Promise<void>;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function makeToy(files: Record<string, string>): Promise<Toy> {
  const dir = await Deno.makeTempDir({ prefix: "ganflow-toy-" });
  await Deno.writeTextFile(join(dir, "deno.json"), "{}\n");
  const write = async (rel: string, text: string) => {
    const path = join(dir, rel);
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await Deno.writeTextFile(path, text.replaceAll("$STAGE", STAGE_TS).replaceAll("$ZOD", ZOD));
  };
  for (const [rel, text] of Object.entries(files)) await write(rel, text);
  const command = (args: string[], env: Record<string, string> = {}) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-lock", MAIN, ...args, "--pipeline", join(dir, "pipeline.ts")],
      env: { NO_COLOR: "1", ...env },
      stdout: "piped",
      stderr: "piped",
    });
  return {
    dir,
    write,
    read: (rel) => Deno.readTextFile(join(dir, rel)),
    async cli(args, env) {
      const out = await command(args, env).output();
      return {
        code: out.code,
        stdout: new TextDecoder().decode(out.stdout),
        stderr: new TextDecoder().decode(out.stderr),
      };
    },
    spawn: (args, env) => command(args, env).spawn(),
    outcomes(stdout) {
      const res: Record<string, string> = {};
      const table = stdout.slice(stdout.lastIndexOf("stage "));
      for (const line of table.split("\n").slice(1)) {
        const m = /^(\S+)\s+(cached|ran|restored|failed|skipped|would run)\s/.exec(line);
        if (m) res[m[1]] = m[2];
      }
      return res;
    },
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
}
