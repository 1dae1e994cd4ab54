/**
 * Checkpoints tied to a stage key: `<store>/checkpoints/<key>/step-<n>/`. A checkpoint appears
 * only complete (temp dir, fsync each file, rename), so a stage killed mid-save resumes from the
 * previous one. Same key = same code, params and inputs, so resuming is always sound.
 */
import { join } from "node:path";
import { listFiles, removeIfExists, syncDir } from "./fs_util.ts";
import type { Checkpoints } from "./stage.ts";

const STEP_DIR = /^step-(\d+)$/;

export function checkpointsAt(dir: string): Checkpoints {
  async function steps(): Promise<number[]> {
    const out: number[] = [];
    try {
      for await (const e of Deno.readDir(dir)) {
        const m = STEP_DIR.exec(e.name);
        if (m && e.isDirectory) out.push(Number(m[1]));
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return out.sort((a, b) => a - b);
  }
  return {
    async load() {
      const all = await steps();
      if (all.length === 0) return null;
      const step = all[all.length - 1];
      return { step, dir: join(dir, stepName(step)) };
    },
    async save(step, write, keep = 2) {
      await Deno.mkdir(dir, { recursive: true });
      const tmp = join(dir, `.tmp-${crypto.randomUUID().slice(0, 8)}`);
      await Deno.mkdir(tmp);
      try {
        await write(tmp);
        for (const rel of await listFiles(tmp)) {
          const f = await Deno.open(join(tmp, rel), { read: true, write: true });
          await f.sync();
          f.close();
        }
        const final = join(dir, stepName(step));
        await removeIfExists(final);
        await Deno.rename(tmp, final);
        await syncDir(dir);
      } catch (e) {
        await removeIfExists(tmp);
        throw e;
      }
      const all = await steps();
      for (const old of all.slice(0, Math.max(0, all.length - keep))) {
        await removeIfExists(join(dir, stepName(old)));
      }
    },
  };
}

function stepName(step: number): string {
  return `step-${String(step).padStart(9, "0")}`;
}
