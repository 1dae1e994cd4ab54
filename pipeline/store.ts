/**
 * The cache store. Outputs live as immutable content-addressed objects; a run record maps a
 * stage key to its output digests; `out/<stage>/` holds hard links to the objects so people and
 * downstream stages find outputs at stable paths. Every write is temp + fsync + rename, and the
 * record is written only after its objects, so `kill -9` at any point leaves a consistent store:
 * at worst some unreferenced objects, which `gc` removes.
 *
 * Several drivers (and Slurm jobs on other hosts) may share one store: objects and records are
 * published by rename within their own directory, which shared filesystems make atomic, and each
 * process's temp dirs carry its host and pid so clean-ups touch only those of dead processes.
 *
 * `CacheStore` is the interface the runner needs, so an object store could back it later.
 */
import { dirname, join } from "node:path";
import { hostname } from "node:os";
import { processAlive } from "./claim.ts";
import {
  exists,
  listFiles,
  readJson,
  removeIfExists,
  syncDir,
  writeFileAtomic,
} from "./fs_util.ts";
import { StatCache } from "./stat_cache.ts";
import type { OutputDigest, RunRecord } from "./stage.ts";

export interface CacheStore {
  readonly root: string;
  readonly stats: StatCache;
  getRecord(key: string): Promise<RunRecord | null>;
  putRecord(record: RunRecord): Promise<void>;
  listRecords(): Promise<RunRecord[]>;
  deleteRecord(key: string): Promise<void>;
  head(stage: string): Promise<string | null>;
  setHead(stage: string, key: string): Promise<void>;
  /** Moves finished outputs (files or trees) into the object store; returns their digests. */
  commit(paths: Record<string, string>): Promise<Record<string, OutputDigest>>;
  /** Checks every object of a record; returns the names of bad outputs (missing or altered). */
  verify(record: RunRecord): Promise<string[]>;
  /** The stored object of an output file, or of file `path` inside an output tree; else null. */
  objectFile(record: RunRecord, output: string, path?: string): string | null;
  /** Places a record's outputs at `outPath(stage, path)`. */
  materialise(record: RunRecord, outputs: Record<string, string>): Promise<void>;
  /**
   * A read-only tree of exactly this record's outputs (hard links to the objects), for the
   * stages that read them: unlike `out/`, no other run ever changes it. Returns its root.
   */
  view(record: RunRecord, outputs: Record<string, string>): Promise<string>;
  outPath(stage: string, relPath: string): string;
  tmpDir(label: string): Promise<string>;
  checkpointDir(key: string): string;
  /** Deletes everything not referenced by a record; returns bytes freed. */
  gc(keepKeys?: Set<string>): Promise<{ bytes: number; objects: number; records: number }>;
  flush(): Promise<void>;
}

export class FsStore implements CacheStore {
  private constructor(readonly root: string, readonly stats: StatCache) {}

  static async open(root: string): Promise<FsStore> {
    await Deno.mkdir(join(root, "objects"), { recursive: true });
    await Deno.mkdir(join(root, "runs"), { recursive: true });
    return new FsStore(root, await StatCache.load(join(root, "statcache.json")));
  }

  #objectPath(digest: string): string {
    const hex = digest.replace(/^[a-z0-9]+:/, "");
    return join(this.root, "objects", hex.slice(0, 2), hex.slice(2));
  }

  async getRecord(key: string): Promise<RunRecord | null> {
    return await readJson<RunRecord>(join(this.root, "runs", `${key}.json`));
  }

  async putRecord(record: RunRecord): Promise<void> {
    await writeFileAtomic(
      join(this.root, "runs", `${record.key}.json`),
      JSON.stringify(record, null, 1),
    );
  }

  async listRecords(): Promise<RunRecord[]> {
    const out: RunRecord[] = [];
    for await (const e of Deno.readDir(join(this.root, "runs"))) {
      if (!e.name.endsWith(".json")) continue;
      const r = await readJson<RunRecord>(join(this.root, "runs", e.name));
      if (r) out.push(r);
    }
    return out;
  }

  async deleteRecord(key: string): Promise<void> {
    await removeIfExists(join(this.root, "runs", `${key}.json`));
  }

  async head(stage: string): Promise<string | null> {
    return (await readJson<{ key: string }>(join(this.root, "heads", `${stage}.json`)))?.key ??
      null;
  }

  async setHead(stage: string, key: string): Promise<void> {
    await writeFileAtomic(join(this.root, "heads", `${stage}.json`), JSON.stringify({ key }));
  }

  async #commitFile(src: string): Promise<{ digest: string; size: number }> {
    const h = await this.stats.fileDigest(src);
    const dst = this.#objectPath(h.digest);
    if (await exists(dst) && await this.#objectOk(h.digest, h.size)) {
      await Deno.remove(src);
    } else {
      await Deno.mkdir(dirname(dst), { recursive: true });
      // fsync the content before the rename makes it visible under its digest.
      const f = await Deno.open(src, { read: true, write: true });
      await f.sync();
      f.close();
      await Deno.chmod(src, 0o444);
      // Moved beside its final name first, then renamed within that directory: the one step
      // that publishes it is a same-directory rename, atomic on NFS, Lustre and GPFS too. A
      // concurrent writer of the same content replaces it with identical bytes.
      const staged = `${dst}.tmp-${crypto.randomUUID().slice(0, 8)}`;
      await Deno.rename(src, staged);
      await Deno.rename(staged, dst);
      await syncDir(dirname(dst));
    }
    this.stats.forget(src);
    return h;
  }

  async commit(paths: Record<string, string>): Promise<Record<string, OutputDigest>> {
    const out: Record<string, OutputDigest> = {};
    for (const [name, path] of Object.entries(paths)) {
      let st;
      try {
        st = await Deno.stat(path);
      } catch {
        throw new Error(`output "${name}" was not written (expected at ${path})`);
      }
      if (!st.isDirectory) {
        out[name] = await this.#commitFile(path);
        continue;
      }
      const d = await this.stats.digest(path);
      for (const rel of Object.keys(d.files!)) await this.#commitFile(join(path, rel));
      out[name] = d;
    }
    return out;
  }

  async #objectOk(digest: string, size: number): Promise<boolean> {
    const p = this.#objectPath(digest);
    try {
      const h = await this.stats.fileDigest(p);
      return h.digest === digest && h.size === size;
    } catch {
      return false;
    }
  }

  async verify(record: RunRecord): Promise<string[]> {
    const bad: string[] = [];
    for (const [name, d] of Object.entries(record.outputs)) {
      const files = d.files ? Object.values(d.files) : [d];
      let ok = true;
      for (const f of files) {
        if (!(await this.#objectOk(f.digest, f.size))) {
          ok = false;
          // Evict: the next commit of this content must not find the damaged copy.
          await removeIfExists(this.#objectPath(f.digest));
          this.stats.forget(this.#objectPath(f.digest));
        }
      }
      if (!ok) bad.push(name);
    }
    return bad;
  }

  outPath(stage: string, relPath: string): string {
    return join(this.root, "out", stage, relPath);
  }

  objectFile(record: RunRecord, output: string, path?: string): string | null {
    const d = record.outputs[output];
    const file = path === undefined ? (d?.files ? undefined : d) : d?.files?.[path];
    return file ? this.#objectPath(file.digest) : null;
  }

  async view(record: RunRecord, outputs: Record<string, string>): Promise<string> {
    const dir = join(this.root, "views", record.key);
    if (await exists(dir)) return dir;
    const tmp = await this.tmpDir(`view-${record.stage}`);
    await this.#linkTree(record, outputs, tmp);
    await Deno.mkdir(dirname(dir), { recursive: true });
    try {
      await Deno.rename(tmp, dir);
    } catch (e) {
      // Built by another process meanwhile: same content, keep theirs.
      await removeIfExists(tmp);
      if (!(await exists(dir))) throw e;
    }
    return dir;
  }

  /** Hard links (copies where linking fails) of a record's objects under `root`. */
  async #linkTree(record: RunRecord, outputs: Record<string, string>, root: string) {
    for (const [name, d] of Object.entries(record.outputs)) {
      const rel = outputs[name];
      if (rel === undefined) continue;
      const target = join(root, rel);
      const files = d.files
        ? Object.entries(d.files).map(([p, f]) => [join(target, p), f.digest] as const)
        : [[target, d.digest] as const];
      if (d.files) await Deno.mkdir(target, { recursive: true });
      for (const [dst, digest] of files) {
        await Deno.mkdir(dirname(dst), { recursive: true });
        try {
          await Deno.link(this.#objectPath(digest), dst);
        } catch {
          await Deno.copyFile(this.#objectPath(digest), dst);
        }
      }
    }
  }

  async materialise(record: RunRecord, outputs: Record<string, string>): Promise<void> {
    const stageDir = join(this.root, "out", record.stage);
    // Already in place (same inodes as the objects)? Then nothing to do.
    if (await this.#inPlace(record, outputs)) return;
    const tmp = await this.tmpDir(`out-${record.stage}`);
    await this.#linkTree(record, outputs, tmp);
    await Deno.mkdir(dirname(stageDir), { recursive: true });
    // Another driver may place its own version between our two renames: then go round again.
    for (let attempt = 0;; attempt++) {
      const old = `${stageDir}.old-${crypto.randomUUID().slice(0, 8)}`;
      const moved = await Deno.rename(stageDir, old).then(() => true, (e) => {
        if (e instanceof Deno.errors.NotFound) return false;
        throw e;
      });
      try {
        await Deno.rename(tmp, stageDir);
        if (moved) await removeIfExists(old);
        return;
      } catch (e) {
        if (moved) await removeIfExists(old);
        const taken = e instanceof Deno.errors.AlreadyExists ||
          (e instanceof Error && /not empty|exists/i.test(e.message));
        if (!taken || attempt >= 5) {
          await removeIfExists(tmp);
          throw e;
        }
      }
    }
  }

  async #inPlace(record: RunRecord, outputs: Record<string, string>): Promise<boolean> {
    for (const [name, d] of Object.entries(record.outputs)) {
      const rel = outputs[name];
      if (rel === undefined) return false;
      const base = this.outPath(record.stage, rel);
      const files = d.files
        ? Object.entries(d.files).map(([p, f]) => [join(base, p), f.digest] as const)
        : [[base, d.digest] as const];
      if (d.files) {
        const present = await listFiles(base).catch(() => null);
        if (!present || present.length !== files.length) return false;
      }
      for (const [path, digest] of files) {
        try {
          const [a, b] = await Promise.all([Deno.stat(path), Deno.stat(this.#objectPath(digest))]);
          if (a.ino !== b.ino || a.ino === null) return false;
        } catch {
          return false;
        }
      }
    }
    return true;
  }

  /** A fresh dir under `tmp/`, named `<host>~<pid>~<label>-<random>` so its owner is known. */
  async tmpDir(label: string): Promise<string> {
    const dir = join(
      this.root,
      "tmp",
      `${hostname()}~${Deno.pid}~${label}-${crypto.randomUUID().slice(0, 8)}`,
    );
    await Deno.mkdir(dir, { recursive: true });
    return dir;
  }

  checkpointDir(key: string): string {
    return join(this.root, "checkpoints", key);
  }

  /**
   * Removes leftovers of killed processes of this host: temp dirs whose owner pid is gone, and
   * staged objects and out/ dirs left between two renames once an hour old. Other hosts' temp
   * dirs are theirs to clean. Returns how many entries it removed.
   */
  async cleanTmp(): Promise<number> {
    const host = hostname();
    let removed = 0;
    for (const name of await entries(join(this.root, "tmp"))) {
      const [h, pid] = name.split("~");
      if (h === host && Number(pid) > 0 && !(await processAlive(Number(pid)))) {
        await removeIfExists(join(this.root, "tmp", name));
        removed++;
      }
    }
    const hourAgo = Date.now() - 3600_000;
    const outRoot = join(this.root, "out");
    for (const name of await entries(outRoot)) {
      if (!name.includes(".old-")) continue;
      const st = await Deno.lstat(join(outRoot, name));
      if ((st.mtime?.getTime() ?? 0) < hourAgo) {
        await removeIfExists(join(outRoot, name));
        removed++;
      }
    }
    return removed;
  }

  async gc(keepKeys?: Set<string>): Promise<{ bytes: number; objects: number; records: number }> {
    let records = 0;
    const live = new Set<string>();
    for (const r of await this.listRecords()) {
      if (keepKeys && !keepKeys.has(r.key)) {
        await this.deleteRecord(r.key);
        records++;
        continue;
      }
      for (const d of Object.values(r.outputs)) {
        if (d.files) {
          for (const f of Object.values(d.files)) live.add(this.#objectPath(f.digest));
        } else live.add(this.#objectPath(d.digest));
      }
    }
    let bytes = 0;
    let objects = 0;
    const objRoot = join(this.root, "objects");
    for (const rel of await listFiles(objRoot)) {
      const p = join(objRoot, rel);
      if (live.has(p)) continue;
      bytes += (await Deno.stat(p)).size;
      objects++;
      await Deno.remove(p);
      this.stats.forget(p);
    }
    // Views are hard links made on demand; dropping them all lets the objects' space go.
    await removeIfExists(join(this.root, "views"));
    // Checkpoints of keys that finished are no longer needed to resume anything. Any error
    // other than "no checkpoints yet" is reported, not taken for "nothing to free".
    const ckRoot = join(this.root, "checkpoints");
    for (const name of await entries(ckRoot)) {
      if (!(await this.getRecord(name))) continue;
      const dir = join(ckRoot, name);
      for (const rel of await listFiles(dir)) bytes += (await Deno.stat(join(dir, rel))).size;
      await removeIfExists(dir);
    }
    return { bytes, objects, records };
  }

  async flush(): Promise<void> {
    await this.stats.save();
  }
}

/** Names in a directory; none when it does not exist yet. Any other error is thrown. */
async function entries(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}
