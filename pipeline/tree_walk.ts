/**
 * The files of a directory input, exactly as a stage may read them: regular files and links to
 * files inside the tree by content; links that leave the tree, dangle or loop by name only (a
 * stage must not read through them, so their targets are not part of the key); never a walk
 * outside the tree. Links to directories inside the tree are skipped: the walk reaches those
 * directories anyway.
 */
import { join, relative } from "node:path";

export type TreeEntry =
  | { rel: string; kind: "file"; path: string }
  | { rel: string; kind: "link"; target: "outside" | "dangling" };

/** Entries under `root` (itself resolved), sorted by their "/"-separated relative path. */
export async function walkTree(root: string): Promise<TreeEntry[]> {
  const realRoot = await Deno.realPath(root);
  const inside = (p: string) => p === realRoot || p.startsWith(realRoot + "/");
  const out: TreeEntry[] = [];
  async function walk(dir: string) {
    for await (const e of Deno.readDir(dir)) {
      const path = join(dir, e.name);
      const rel = relative(realRoot, path).split("\\").join("/");
      if (e.isSymlink) {
        const target = await resolveLink(path);
        if (target === null) out.push({ rel, kind: "link", target: "dangling" });
        else if (!inside(target)) out.push({ rel, kind: "link", target: "outside" });
        else if ((await Deno.stat(target)).isFile) out.push({ rel, kind: "file", path });
      } else if (e.isDirectory) await walk(path);
      else if (e.isFile) out.push({ rel, kind: "file", path });
      // Sockets and FIFOs hold nothing to read.
    }
  }
  await walk(realRoot);
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** A link's final target, or null when it dangles or loops. */
async function resolveLink(path: string): Promise<string | null> {
  try {
    return await Deno.realPath(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.FilesystemLoop) return null;
    throw e;
  }
}
