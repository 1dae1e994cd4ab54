/**
 * One image as a source yields it (data/sources.ts, data/archive.ts): raw pixels, a file or
 * in-memory bytes to decode later, or the reason it cannot be used. Shared by every source kind.
 */

/** Raw pixels (already decoded) or encoded file bytes to decode with sharp. */
export type SourceItem =
  | {
    name: string;
    kind: "pixels";
    width: number;
    height: number;
    channels: number;
    pixels: Uint8Array;
    label?: number;
  }
  | { name: string; kind: "file"; path: string; label?: number }
  | { name: string; kind: "bytes"; bytes: Uint8Array; label?: number }
  | { name: string; kind: "error"; reason: string };

/** File extensions (lower case) taken as images. */
export const IMAGE_EXTENSIONS = [".jpg", ".jpeg", ".png", ".webp"];
