/**
 * Remembers file digests by (path, size, mtime, inode) so unchanged inputs are never re-hashed.
 * Touching a file (new mtime, same bytes) costs one re-hash and still yields the same digest.
 */
import { resolve } from "node:path";
import { hashFile, treeDigest } from "./hash.ts";
import { readJson, writeFileAtomic } from "./fs_util.ts";
import { walkTree } from "./tree_walk.ts";
import type { OutputDigest } from "./stage.ts";

interface Entry {
  size: number;
  mtime: number;
  ino: number;
  digest: string;
}

export class StatCache {
  #entries = new Map<string, Entry>();
  #dirty = false;
  /** Bytes actually hashed (not served from the cache) since construction. */
  bytesHashed = 0;

  private constructor(readonly file: string) {}

  static async load(file: string): Promise<StatCache> {
    const c = new StatCache(file);
    const saved = await readJson<Record<string, Entry>>(file);
    if (saved) { for (const [k, v] of Object.entries(saved)) c.#entries.set(k, v); }
    return c;
  }

  async fileDigest(path: string): Promise<{ digest: string; size: number }> {
    const abs = resolve(path);
    const st = await Deno.stat(abs);
    const mtime = st.mtime?.getTime() ?? 0;
    const ino = st.ino ?? 0;
    const e = this.#entries.get(abs);
    if (e && e.size === st.size && e.mtime === mtime && e.ino === ino) {
      return { digest: e.digest, size: e.size };
    }
    const h = await hashFile(abs);
    this.bytesHashed += h.size;
    this.#entries.set(abs, { size: st.size, mtime, ino, digest: h.digest });
    this.#dirty = true;
    return h;
  }

  /** Digest of a file, or of a directory tree as `walkTree` sees it (with per-file digests). */
  async digest(path: string): Promise<OutputDigest> {
    const st = await Deno.stat(path);
    if (!st.isDirectory) return await this.fileDigest(path);
    const files: Record<string, { digest: string; size: number }> = {};
    let size = 0;
    for (const e of await walkTree(path)) {
      // A link that leaves the tree or dangles counts by its name alone.
      files[e.rel] = e.kind === "file"
        ? await this.fileDigest(e.path)
        : { digest: `symlink-${e.target}`, size: 0 };
      size += files[e.rel].size;
    }
    return { digest: await treeDigest(files), size, files };
  }

  /** Forget entries under a path (e.g. before deleting it). */
  forget(prefix: string): void {
    const abs = resolve(prefix);
    for (const k of this.#entries.keys()) {
      if (k === abs || k.startsWith(abs + "/")) {
        this.#entries.delete(k);
        this.#dirty = true;
      }
    }
  }

  async save(): Promise<void> {
    if (!this.#dirty) return;
    await writeFileAtomic(this.file, JSON.stringify(Object.fromEntries(this.#entries)));
    this.#dirty = false;
  }
}
