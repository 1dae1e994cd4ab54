/**
 * Makes oneDNN loadable with nothing installed by hand. ganflow's FFI bindings are written against
 * oneDNN 2.6, which Debian 12 ships as `libdnnl2`. Where no libdnnl.so.2 can be opened,
 * `provisionOneDnn` fetches Debian's package with `apt-get download` (no root needed where apt's
 * lists exist), checks its SHA-256 against apt's record, unpacks it with `dpkg-deb -x` into the
 * cache dir, and writes a manifest there, so every later process (stages, tests) finds it through
 * `oneDnnCandidates()`. Missing shared-library dependencies (libgomp, OpenCL's loader) are fetched
 * the same way and loaded first. Nothing here opens a library itself: the caller passes `tryOpen`,
 * which sets OpenMP's environment before the first load (libgomp reads it once).
 */
import { createHash } from "node:crypto";
import { join, relative } from "node:path";
import { ganflowCacheDir, readEnv } from "../../nn/cache_dir.ts";

/** What the bindings need: the 2.x C API with the 2.6 struct layouts. */
export const ONEDNN_PACKAGE = "libdnnl2";
export const ONEDNN_SONAME = "libdnnl.so.2";

/** A library to try, with the files to load before it (its dependencies from the cache). */
export interface LibraryCandidate {
  path: string;
  preload: string[];
  origin: "system" | "override" | "cache";
}

/** What the cache dir records about an unpacked package (paths relative to the dir). */
interface Manifest {
  package: string;
  version: string;
  sha256: string;
  library: string;
  preload: string[];
}

export function oneDnnCacheDir(cache: string = ganflowCacheDir()): string {
  return join(cache, "onednn");
}

/**
 * Where libdnnl is looked for, in order: `$GANFLOW_ONEDNN_LIB` (a path or soname) or the system's
 * libdnnl.so.2, then a copy this module unpacked into the cache dir.
 */
export function oneDnnCandidates(cache?: string): LibraryCandidate[] {
  const override = readEnv("GANFLOW_ONEDNN_LIB");
  const out: LibraryCandidate[] = [{
    path: override ?? ONEDNN_SONAME,
    preload: [],
    origin: override ? "override" : "system",
  }];
  const dir = oneDnnCacheDir(cache);
  const m = readManifest(dir);
  if (m) {
    out.push({
      path: join(dir, m.library),
      preload: m.preload.map((p) => join(dir, p)),
      origin: "cache",
    });
  }
  return out;
}

function readManifest(dir: string): Manifest | null {
  try {
    return JSON.parse(Deno.readTextFileSync(join(dir, "manifest.json"))) as Manifest;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied) return null;
    if (e instanceof SyntaxError) return null; // a torn manifest: provisioning rewrites it
    throw e;
  }
}

export interface ProvisionOptions {
  /** Opens a library after its preloads; the error message, or null on success. */
  tryOpen: (candidate: LibraryCandidate) => string | null;
  /** Default: `ganflowCacheDir()`. */
  cacheDir?: string;
  /** Command names (tests point these at missing tools). */
  commands?: { aptGet?: string; aptCache?: string; dpkgDeb?: string };
  /** Extra `-o` settings for apt (tests use them to simulate an unreachable mirror). */
  aptOptions?: string[];
  /** Default: /etc/os-release and Deno.build.os. */
  platform?: { os: string; osRelease: string };
  /** Whether `apt-get update` may run when apt's lists are empty (default: when root). */
  mayUpdate?: boolean;
}

export type ProvisionResult =
  | { status: "present"; candidate: LibraryCandidate }
  | { status: "fetched"; candidate: LibraryCandidate; version: string; bytes: number; ms: number }
  | { status: "unavailable"; note: string };

/**
 * Returns a candidate that opens, fetching Debian's package into the cache dir when none does.
 * Never throws for an environment that cannot provide it: the result says why, with the command
 * that fixes it on this platform.
 */
export async function provisionOneDnn(o: ProvisionOptions): Promise<ProvisionResult> {
  const t0 = performance.now();
  const cache = o.cacheDir ?? ganflowCacheDir();
  const failures: string[] = [];
  for (const c of oneDnnCandidates(cache)) {
    const err = o.tryOpen(c);
    if (err === null) return { status: "present", candidate: c };
    failures.push(err);
  }
  if (readEnv("GANFLOW_ONEDNN_FETCH") === "0") {
    return {
      status: "unavailable",
      note: `${failures[0]}; fetching is off (GANFLOW_ONEDNN_FETCH=0)`,
    };
  }
  const platform = o.platform ?? currentPlatform();
  const other = otherPlatformNote(platform);
  if (other) return { status: "unavailable", note: other };
  try {
    const fetched = await fetchFromApt(o, cache);
    return { status: "fetched", ...fetched, ms: performance.now() - t0 };
  } catch (e) {
    if (!(e instanceof ProvisionError)) throw e;
    return {
      status: "unavailable",
      note: `${e.message}; to install it system-wide instead: apt-get install ${ONEDNN_PACKAGE}`,
    };
  }
}

/** One line for the log. */
export function describeProvision(r: ProvisionResult, dir: string): string {
  switch (r.status) {
    case "present":
      return `oneDNN: using ${r.candidate.path} (${r.candidate.origin})`;
    case "fetched":
      return `oneDNN: fetched Debian's ${ONEDNN_PACKAGE} ${r.version} ` +
        `(${(r.bytes / 2 ** 20).toFixed(1)} MiB, SHA-256 checked) into ${dir} ` +
        `in ${(r.ms / 1000).toFixed(1)} s`;
    case "unavailable":
      return `note: oneDNN could not be set up: ${r.note}`;
  }
}

/** A failure of the environment (no tool, no network, no record): reported, never thrown out. */
class ProvisionError extends Error {}

function currentPlatform(): { os: string; osRelease: string } {
  let osRelease = "";
  try {
    osRelease = Deno.readTextFileSync("/etc/os-release");
  } catch {
    // Not a systemd-style Linux: the note below names the platform's own route.
  }
  return { os: Deno.build.os, osRelease };
}

/** The note for a platform where Debian's package cannot be used, or null for Debian/Ubuntu. */
export function otherPlatformNote(p: { os: string; osRelease: string }): string | null {
  if (p.os !== "linux") {
    return `ganflow loads oneDNN 2.6 through FFI on Linux only; on ${p.os} the plain cpu ` +
      `backend is used (for speed, run on Linux or use a GPU backend)`;
  }
  const field = (k: string) =>
    p.osRelease.match(new RegExp(`^${k}="?([^"\\n]*)"?$`, "m"))?.[1] ?? "";
  const family = `${field("ID")} ${field("ID_LIKE")}`;
  if (/\b(debian|ubuntu)\b/.test(family)) return null;
  const name = field("PRETTY_NAME") || "this Linux";
  return `${name} is not Debian-based, so Debian's ${ONEDNN_PACKAGE} cannot be fetched: install ` +
    `oneDNN 2.6 (libdnnl.so.2) from your distribution or from source, and set ` +
    `GANFLOW_ONEDNN_LIB to its path if it is not on the loader's path`;
}

async function fetchFromApt(
  o: ProvisionOptions,
  cache: string,
): Promise<{ candidate: LibraryCandidate; version: string; bytes: number }> {
  const dir = oneDnnCacheDir(cache);
  const record = await aptRecord(o, ONEDNN_PACKAGE);
  await Deno.mkdir(dir, { recursive: true });
  const work = await Deno.makeTempDir({ dir, prefix: ".fetch-" });
  try {
    const deb = await downloadVerified(o, record, work);
    const root = join(work, "root");
    await run(o.commands?.dpkgDeb ?? "dpkg-deb", ["-x", deb.path, root]);
    const library = await findFile(root, ONEDNN_SONAME);
    if (!library) throw new ProvisionError(`${deb.path} holds no ${ONEDNN_SONAME}`);
    const preload = await resolveDependencies(o, record, work, root, library);
    // Publish: the unpacked tree under its final name, then the manifest that points at it.
    const final = join(dir, `${ONEDNN_PACKAGE}_${record.version}_${record.arch}`);
    await Deno.remove(final, { recursive: true }).catch(ignoreNotFound);
    await Deno.rename(root, final);
    const rel = (p: string) => relative(dir, join(final, relative(root, p)));
    const manifest: Manifest = {
      package: ONEDNN_PACKAGE,
      version: record.version,
      sha256: record.sha256,
      library: rel(library),
      preload: preload.map(rel),
    };
    const tmp = join(work, "manifest.json");
    await Deno.writeTextFile(tmp, JSON.stringify(manifest, null, 1));
    await Deno.rename(tmp, join(dir, "manifest.json"));
    const candidate = oneDnnCandidates(cache).find((c) => c.origin === "cache")!;
    const err = o.tryOpen(candidate);
    if (err) throw new ProvisionError(`the fetched ${ONEDNN_SONAME} does not load: ${err}`);
    return { candidate, version: record.version, bytes: deb.bytes };
  } finally {
    await Deno.remove(work, { recursive: true }).catch(ignoreNotFound);
  }
}

interface AptRecord {
  name: string;
  version: string;
  arch: string;
  sha256: string;
  depends: string[];
}

/** apt's record of a package (candidate version), running `apt-get update` once if allowed. */
async function aptRecord(o: ProvisionOptions, name: string): Promise<AptRecord> {
  const show = () =>
    run(o.commands?.aptCache ?? "apt-cache", [
      ...aptFlags(o),
      "show",
      "--no-all-versions",
      name,
    ], { allowFail: true });
  let out = await show();
  if (!out.ok || !/^SHA256:/m.test(out.stdout)) {
    const mayUpdate = o.mayUpdate ?? isRoot();
    if (!mayUpdate) {
      throw new ProvisionError(
        `apt has no record of ${name} (its package lists may be empty: run apt-get update)`,
      );
    }
    await run(o.commands?.aptGet ?? "apt-get", [...aptFlags(o), "update", "-qq"]);
    out = await show();
    if (!out.ok || !/^SHA256:/m.test(out.stdout)) {
      throw new ProvisionError(`apt has no record of ${name} after apt-get update`);
    }
  }
  const field = (k: string) => out.stdout.match(new RegExp(`^${k}: (.*)$`, "m"))?.[1]?.trim() ?? "";
  const depends = field("Depends").split(",").map((d) => d.split("|")[0].trim().split(/[ (]/)[0])
    .filter((d) => d && !d.startsWith("libc6"));
  return {
    name,
    version: field("Version"),
    arch: field("Architecture"),
    sha256: field("SHA256").toLowerCase(),
    depends,
  };
}

async function downloadVerified(
  o: ProvisionOptions,
  record: AptRecord,
  dir: string,
): Promise<{ path: string; bytes: number }> {
  const cwd = await Deno.makeTempDir({ dir, prefix: record.name + "-" });
  const res = await run(o.commands?.aptGet ?? "apt-get", [
    ...aptFlags(o),
    "download",
    "-qq",
    `${record.name}=${record.version}`,
  ], { cwd, allowFail: true });
  const debs = [...Deno.readDirSync(cwd)].filter((e) => e.name.endsWith(".deb"));
  if (!res.ok || debs.length !== 1) {
    throw new ProvisionError(
      `apt-get download ${record.name} failed (no network or mirror?): ${tail(res.stderr)}`,
    );
  }
  const path = join(cwd, debs[0].name);
  const bytes = await Deno.readFile(path);
  const digest = createHash("sha256").update(bytes).digest("hex");
  if (digest !== record.sha256) {
    throw new ProvisionError(
      `${debs[0].name} has SHA-256 ${digest}, apt's record says ${record.sha256}`,
    );
  }
  return { path, bytes: bytes.length };
}

/**
 * Files to load before the library: where the first open fails on a missing shared library, the
 * package's dependencies are fetched into the same tree and the missing files loaded first
 * (deepest first), until it opens.
 */
async function resolveDependencies(
  o: ProvisionOptions,
  record: AptRecord,
  work: string,
  root: string,
  library: string,
): Promise<string[]> {
  const preload: string[] = [];
  const fetched = new Set<string>();
  for (let attempt = 0; attempt < 16; attempt++) {
    const err = o.tryOpen({ path: library, preload: [...preload], origin: "cache" });
    if (err === null) return preload;
    const missing = err.match(/([\w.+-]+\.so[\w.]*): cannot open shared object file/)?.[1];
    if (!missing) throw new ProvisionError(`${ONEDNN_SONAME} does not load: ${err}`);
    // Debian names a library's package after its soname (libgomp.so.1 -> libgomp1): fetch that
    // dependency alone where one matches, else all of them.
    const stem = missing.toLowerCase().replace(".so", "").replaceAll("_", "-").replaceAll(".", "");
    const named = record.depends.filter((d) => d.endsWith(stem) && !fetched.has(d));
    for (const dep of named.length ? named : record.depends.filter((d) => !fetched.has(d))) {
      const deb = await downloadVerified(o, await aptRecord(o, dep), work);
      await run(o.commands?.dpkgDeb ?? "dpkg-deb", ["-x", deb.path, root]);
      fetched.add(dep);
    }
    const file = await findFile(root, missing);
    if (!file || preload.includes(file)) {
      throw new ProvisionError(`${ONEDNN_SONAME} needs ${missing}, which no dependency provides`);
    }
    preload.unshift(file);
  }
  throw new ProvisionError(`${ONEDNN_SONAME}'s dependencies did not resolve`);
}

async function findFile(root: string, name: string): Promise<string | null> {
  for await (const e of Deno.readDir(root)) {
    const p = join(root, e.name);
    if (e.isDirectory) {
      const found = await findFile(p, name);
      if (found) return found;
    } else if (e.name === name) return p;
  }
  return null;
}

function aptFlags(o: ProvisionOptions): string[] {
  return (o.aptOptions ?? []).flatMap((s) => ["-o", s]);
}

function isRoot(): boolean {
  try {
    return Deno.uid() === 0;
  } catch {
    return false;
  }
}

async function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; allowFail?: boolean } = {},
): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, cwd: opts.cwd, stdout: "piped", stderr: "piped" })
      .output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new ProvisionError(
        `${cmd} is not installed, so Debian's ${ONEDNN_PACKAGE} cannot be fetched`,
      );
    }
    throw e;
  }
  const dec = new TextDecoder();
  const res = { ok: out.success, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  if (!res.ok && !opts.allowFail) {
    throw new ProvisionError(`${cmd} ${args.join(" ")} failed: ${tail(res.stderr)}`);
  }
  return res;
}

function tail(s: string): string {
  const lines = s.trim().split("\n").filter(Boolean);
  return lines.slice(-2).join(" / ") || "no output";
}

function ignoreNotFound(e: unknown): void {
  if (!(e instanceof Deno.errors.NotFound)) throw e;
}
