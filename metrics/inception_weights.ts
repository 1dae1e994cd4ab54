/**
 * The FID Inception weights file (pytorch-fid's published `pt_inception-2015-12-05-6726825d.pth`,
 * 95 MB): where it is looked for (an explicit path, else the cache dir: `$GANFLOW_CACHE`, else
 * `$XDG_CACHE_HOME/ganflow`, else `~/.cache/ganflow`), its download (only where the URL is
 * reachable) and its SHA-256 check (prefix 6726825d, as torch.hub does). The command line that
 * fetches it: metrics/fetch_inception.ts.
 */
import { dirname, join } from "node:path";
import { ganflowCacheDir } from "../nn/cache_dir.ts";

export const INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth";
export const INCEPTION_URL =
  "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + INCEPTION_FILE;
/** torch.hub's check: the file's SHA-256 starts with the hex digits after the last '-'. */
export const INCEPTION_SHA256_PREFIX = "6726825d";

/** Where the weights are looked for (and downloaded to) when no path is given. */
export function defaultInceptionPath(): string {
  return join(ganflowCacheDir(), INCEPTION_FILE);
}

export function missingWeightsMessage(looked: string[]): string {
  return `FID Inception weights not found (looked at ${looked.join(", ")}). Download ` +
    `${INCEPTION_URL} (95 MB, SHA-256 starting ${INCEPTION_SHA256_PREFIX}) on a machine that ` +
    `can reach it and put it at ${defaultInceptionPath()} (the cache dir is $GANFLOW_CACHE, ` +
    `else $XDG_CACHE_HOME/ganflow, else ~/.cache/ganflow), or pass its path ` +
    "(--set real-stats.inceptionWeights=/path/to/file).";
}

/** Whether `path` is an existing file (no throw). */
export function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Downloads the published weights to `dest` (atomically, after checking the SHA-256 prefix).
 * Returns false, without throwing, when the URL cannot be reached.
 */
export async function downloadInceptionWeights(
  dest = defaultInceptionPath(),
  opts: { url?: string; timeoutMs?: number; log?: (m: string) => void } = {},
): Promise<boolean> {
  let res: Response;
  try {
    res = await fetch(opts.url ?? INCEPTION_URL, {
      signal: AbortSignal.timeout(opts.timeoutMs ?? 600_000),
    });
  } catch (e) {
    opts.log?.(
      `Inception weights: ${opts.url ?? INCEPTION_URL} unreachable (${(e as Error).message})`,
    );
    return false;
  }
  if (!res.ok) {
    await res.body?.cancel();
    opts.log?.(`Inception weights: download failed with HTTP ${res.status}`);
    return false;
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  const digest = await sha256Hex(bytes);
  if (!digest.startsWith(INCEPTION_SHA256_PREFIX)) {
    throw new Error(
      `downloaded Inception weights have SHA-256 ${digest}, expected ${INCEPTION_SHA256_PREFIX}...`,
    );
  }
  await Deno.mkdir(dirname(dest), { recursive: true });
  const tmp = `${dest}.part-${crypto.randomUUID()}`;
  await Deno.writeFile(tmp, bytes);
  await Deno.rename(tmp, dest);
  opts.log?.(`Inception weights downloaded to ${dest}`);
  return true;
}

/**
 * The weights file to use: `path` when given (must exist), else the cache-dir file, else (when
 * `download`) a fresh download into the cache dir. Throws `missingWeightsMessage` otherwise.
 */
export async function locateInceptionWeights(
  opts: { path?: string; download?: boolean; log?: (m: string) => void } = {},
): Promise<string> {
  if (opts.path) {
    if (!isFile(opts.path)) throw new Error(missingWeightsMessage([opts.path]));
    return opts.path;
  }
  const cached = defaultInceptionPath();
  if (isFile(cached)) return cached;
  if (opts.download && await downloadInceptionWeights(cached, { log: opts.log })) return cached;
  throw new Error(missingWeightsMessage([cached]));
}
