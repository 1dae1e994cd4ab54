/** file: URL <-> path conversion (node:url, as @std/path is unreachable here). */
import { fileURLToPath, pathToFileURL } from "node:url";

export function fromFileUrl(url: string | URL): string {
  return fileURLToPath(url);
}

export function toFileUrl(path: string): string {
  return pathToFileURL(path).href;
}
