/**
 * One run at a time per store: an advisory flock on `<store>/lock`. The kernel drops the lock
 * when its process dies (even by kill -9), so a crash never leaves the store locked.
 */
import { join } from "node:path";

export interface StoreLock {
  release(): void;
}

export async function acquireStoreLock(
  storeRoot: string,
  opts: { wait: boolean; onWait?: (holder: string) => void; pollMs?: number },
): Promise<StoreLock> {
  await Deno.mkdir(storeRoot, { recursive: true });
  const path = join(storeRoot, "lock");
  const file = await Deno.open(path, { read: true, write: true, create: true });
  let told = false;
  while (!(await file.tryLock(true))) {
    const holder = (await Deno.readTextFile(path).catch(() => "")).trim() || "another process";
    if (!opts.wait) {
      file.close();
      throw new Error(
        `the store ${storeRoot} is in use by ${holder}; wait for it to finish (or run without --no-wait to queue)`,
      );
    }
    if (!told) opts.onWait?.(holder);
    told = true;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 200));
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`pid ${Deno.pid} since ${new Date().toISOString()}\n`));
  return {
    release() {
      try {
        file.truncateSync(0);
        file.unlockSync();
      } finally {
        file.close();
      }
    },
  };
}
