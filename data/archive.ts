/**
 * Images inside .zip / .tar / .tar.gz archives, read in place: entries become in-memory items and
 * nothing is ever extracted to disk, so a "zip-slip" entry (`../x`, `/etc/x`) cannot write
 * anywhere; such entries, links and special files are skipped with their reason.
 */
import { unzipSync } from "fflate";
import { gunzipSync } from "node:zlib";
import { IMAGE_EXTENSIONS, type SourceItem } from "./source_item.ts";

function unsafeName(name: string): string | null {
  if (name.startsWith("/") || /^[A-Za-z]:[\\/]/.test(name)) return "absolute path in archive";
  if (name.split(/[\\/]/).includes("..")) return "path escapes the archive (..)";
  return null;
}

function classify(name: string, bytes: Uint8Array): SourceItem | null {
  const bad = unsafeName(name);
  if (bad) return { name, kind: "error", reason: bad };
  const base = name.split("/").pop()!;
  if (base.startsWith(".") || base === "") return null;
  const ext = base.slice(base.lastIndexOf(".")).toLowerCase();
  if (!IMAGE_EXTENSIONS.includes(ext)) {
    return { name, kind: "error", reason: "not an image extension" };
  }
  return { name, kind: "bytes", bytes };
}

export function* zipItems(data: Uint8Array): Generator<SourceItem> {
  const files = unzipSync(data);
  for (const name of Object.keys(files).sort()) {
    if (name.endsWith("/")) continue; // directory entry
    const item = classify(name, files[name]);
    if (item) yield item;
  }
}

/** POSIX ustar / GNU tar: 512-byte headers, octal sizes, typeflag '0' or NUL for files. */
export function* tarItems(data: Uint8Array): Generator<SourceItem> {
  if (data[0] === 0x1f && data[1] === 0x8b) data = new Uint8Array(gunzipSync(data));
  const text = new TextDecoder();
  const entries: SourceItem[] = [];
  let longName: string | null = null;
  for (let off = 0; off + 512 <= data.length;) {
    const h = data.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const field = (a: number, n: number) => text.decode(h.subarray(a, a + n)).replace(/\0.*$/s, "");
    const prefix = field(345, 155);
    let name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    longName = null;
    const size = parseInt(field(124, 12).trim() || "0", 8);
    const type = String.fromCharCode(h[156] || 48);
    const body = data.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === "L") {
      longName = text.decode(body).replace(/\0.*$/s, "");
      continue;
    }
    name = name.replace(/^\.\//, "");
    if (type === "5" || type === "x" || type === "g") continue; // directories, pax headers
    if (type === "1" || type === "2") {
      entries.push({
        name,
        kind: "error",
        reason: type === "2" ? "symlink in archive" : "hard link in archive",
      });
      continue;
    }
    if (type !== "0" && type !== "7") {
      entries.push({ name, kind: "error", reason: `special file in archive (type ${type})` });
      continue;
    }
    if (body.length < size) {
      entries.push({ name, kind: "error", reason: "truncated archive entry" });
      break;
    }
    const item = classify(name, body);
    if (item) entries.push(item);
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  yield* entries;
}
