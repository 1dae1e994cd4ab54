/**
 * Per-key claims on a shared store: whoever creates `<store>/claims/<key>.json` with exclusive
 * create (O_EXCL) computes that key; everyone else waits for its run record. This replaces a
 * store-wide lock, because flock is node-local on NFS and GPFS and missing on some Lustre mounts,
 * while O_EXCL create and rename within one directory work on all of them.
 *
 * A claim holds its owner (host, pid, optional Slurm job id) and a heartbeat: its mtime, touched
 * every few seconds by the owner (the driver while a job waits in the queue, the job while it
 * runs). A claim whose heartbeat is older than `staleMs`, or whose owner process is gone from
 * this host while no job is attached, is stale and is taken over. Takeover is serialised by a
 * second O_EXCL file, so two drivers never both replace the same stale claim.
 */
import { join } from "node:path";
import { hostname } from "node:os";
import { removeIfExists, writeFileAtomic } from "./fs_util.ts";

export interface ClaimOwner {
  /** Unique per claim: lets a job check that the claim it was submitted under is still its own. */
  token: string;
  host: string;
  pid: number;
  /** Slurm job id once the stage was submitted. */
  job?: string;
  since: string;
}

export interface ClaimOptions {
  /** A heartbeat older than this makes a claim stale (default 60 s; GANFLOW_CLAIM_STALE_S). */
  staleMs?: number;
  /** How often a holder touches its claim (default staleMs / 6). */
  heartbeatMs?: number;
}

export class Claim {
  #timer: ReturnType<typeof setInterval>;
  #released = false;

  constructor(readonly path: string, public owner: ClaimOwner, heartbeatMs: number) {
    this.#timer = setInterval(() => void this.beat().catch(() => {}), heartbeatMs);
    Deno.unrefTimer(this.#timer);
  }

  /** Touches the claim (its mtime is the heartbeat) if it is still ours; false once it is not. */
  async beat(): Promise<boolean> {
    if (this.#released) return false;
    const now = new Date();
    const cur = await readOwner(this.path);
    if (cur?.token !== this.owner.token) return false;
    await Deno.utime(this.path, now, now);
    return true;
  }

  /** Records the Slurm job that now computes the key (rewritten by rename: never half a file). */
  async setJob(job: string): Promise<void> {
    this.owner = { ...this.owner, job };
    await writeFileAtomic(this.path, JSON.stringify(this.owner));
  }

  /** Stops the heartbeat; with `remove`, deletes the claim if it is still ours. */
  async release(remove = true): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#timer);
    if (!remove) return;
    const cur = await readOwner(this.path);
    if (cur?.token === this.owner.token) await removeIfExists(this.path);
  }
}

export type ClaimAttempt =
  | { claim: Claim }
  | { heldBy: ClaimOwner; ageMs: number };

export class Claims {
  readonly dir: string;
  readonly staleMs: number;
  readonly heartbeatMs: number;
  readonly host = hostname();

  constructor(storeRoot: string, opts: ClaimOptions = {}) {
    this.dir = join(storeRoot, "claims");
    const envStale = Number(Deno.env.get("GANFLOW_CLAIM_STALE_S"));
    this.staleMs = opts.staleMs ?? (envStale > 0 ? envStale * 1000 : 60_000);
    this.heartbeatMs = opts.heartbeatMs ?? Math.max(50, Math.floor(this.staleMs / 6));
  }

  path(key: string): string {
    return join(this.dir, `${key}.json`);
  }

  /** Creates the claim, or takes over a stale one; otherwise says who holds it. */
  async tryClaim(key: string): Promise<ClaimAttempt> {
    await Deno.mkdir(this.dir, { recursive: true });
    const path = this.path(key);
    const mine = await this.#create(path);
    if (mine) return { claim: mine };
    const held = await this.inspect(key);
    if (!held) return await this.tryClaim(key); // released between our create and our read
    if (!(await this.isStale(held.owner, held.ageMs))) {
      return { heldBy: held.owner, ageMs: held.ageMs };
    }
    const taken = await this.#takeOver(path, held.owner);
    return taken ? { claim: taken } : { heldBy: held.owner, ageMs: held.ageMs };
  }

  /**
   * Takes up the heartbeat of a claim made by another process (the driver that submitted this
   * job), if it still holds `token`; null when it was taken over meanwhile.
   */
  async adopt(key: string, token: string): Promise<Claim | null> {
    const owner = await readOwner(this.path(key));
    if (owner?.token !== token) return null;
    const claim = new Claim(this.path(key), owner, this.heartbeatMs);
    return (await claim.beat()) ? claim : null;
  }

  /** The claim on `key` and its heartbeat age, or null when there is none. */
  async inspect(key: string): Promise<{ owner: ClaimOwner; ageMs: number } | null> {
    const path = this.path(key);
    let st: Deno.FileInfo;
    try {
      st = await Deno.stat(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw e;
    }
    const owner = await readOwner(path);
    if (!owner) return null;
    return { owner, ageMs: Date.now() - (st.mtime?.getTime() ?? 0) };
  }

  /**
   * Stale: no heartbeat for `staleMs`, or (without a job, whose heartbeat comes from another
   * process) an owner process that no longer exists on this host: a driver killed with kill -9.
   */
  async isStale(owner: ClaimOwner, ageMs: number): Promise<boolean> {
    if (ageMs > this.staleMs) return true;
    return !owner.job && owner.host === this.host && owner.pid !== Deno.pid &&
      !(await processAlive(owner.pid));
  }

  /** Claims on this store that are live (not stale), e.g. to keep `gc` from running beside them. */
  async live(): Promise<ClaimOwner[]> {
    const out: ClaimOwner[] = [];
    let entries: Deno.DirEntry[] = [];
    try {
      entries = await Array.fromAsync(Deno.readDir(this.dir));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    for (const e of entries) {
      if (!e.name.endsWith(".json")) continue;
      const held = await this.inspect(e.name.slice(0, -5));
      if (held && !(await this.isStale(held.owner, held.ageMs))) out.push(held.owner);
    }
    return out;
  }

  async #create(path: string, job?: string): Promise<Claim | null> {
    const owner: ClaimOwner = {
      token: crypto.randomUUID(),
      host: this.host,
      pid: Deno.pid,
      ...(job ? { job } : {}),
      since: new Date().toISOString(),
    };
    let f: Deno.FsFile;
    try {
      f = await Deno.open(path, { write: true, createNew: true });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) return null;
      throw e;
    }
    try {
      await f.write(new TextEncoder().encode(JSON.stringify(owner)));
      await f.sync();
    } finally {
      f.close();
    }
    return new Claim(path, owner, this.heartbeatMs);
  }

  /** Replaces a stale claim, unless another driver is doing so or it changed meanwhile. */
  async #takeOver(path: string, stale: ClaimOwner): Promise<Claim | null> {
    const guard = `${path}.takeover`;
    try {
      (await Deno.open(guard, { write: true, createNew: true })).close();
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      // A guard is held for milliseconds; an old one was left by a driver killed mid-takeover.
      const age = await Deno.stat(guard).then(
        (s) => Date.now() - (s.mtime?.getTime() ?? 0),
        () => 0,
      );
      if (age > this.staleMs) await removeIfExists(guard);
      return null;
    }
    try {
      const cur = await readOwner(path);
      if (cur && cur.token !== stale.token) return null;
      await removeIfExists(path);
      return await this.#create(path, undefined);
    } finally {
      await removeIfExists(guard);
    }
  }
}

async function readOwner(path: string): Promise<ClaimOwner | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as ClaimOwner;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    // Written in one write() before anyone can read it, so a parse error means a torn file left
    // by a crash between create and write: treat it as an owner with no heartbeat.
    if (e instanceof SyntaxError) return { token: "torn", host: "", pid: 0, since: "" };
    throw e;
  }
}

/**
 * Whether a process with this pid exists on this host: /proc where readable (Deno wants
 * --allow-all for /proc, which `deno task pipeline` does not grant), else `kill -0`. When neither
 * can tell, it is assumed alive: a claim then goes stale by its heartbeat alone.
 */
export async function processAlive(pid: number): Promise<boolean> {
  try {
    Deno.statSync("/proc/self");
    try {
      Deno.statSync(`/proc/${pid}`);
      return true;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
    }
  } catch { /* no /proc, or not allowed to look */ }
  try {
    const out = await new Deno.Command("kill", { args: ["-0", String(pid)], stderr: "piped" })
      .output();
    if (out.code === 0) return true;
    // Exists but belongs to someone else ("Operation not permitted") is alive too.
    return /not permitted/i.test(new TextDecoder().decode(out.stderr));
  } catch {
    return true;
  }
}
