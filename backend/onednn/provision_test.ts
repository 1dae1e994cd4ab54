/**
 * Provisioning oneDNN from Debian's package: a real fetch into a temporary cache dir with the
 * system copy hidden (checked in a fresh process, as a stage would load it), and the notes for
 * a missing tool, an unreachable mirror, a wrong digest and other platforms.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../../tests/assert.ts";
import {
  type LibraryCandidate,
  oneDnnCandidates,
  otherPlatformNote,
  provisionOneDnn,
} from "./provision.ts";

const hasApt = await new Deno.Command("apt-cache", { args: ["--version"], stdout: "null" })
  .output().then((o) => o.success, () => false);
const noApt = "apt-cache is not installed: provisioning from Debian's package cannot be tested";
if (!hasApt) console.log(`ignored: ${noApt}`);

/** Nothing opens: what a machine without any libdnnl sees. */
const nothingOpens = (c: LibraryCandidate) => `${c.path}: cannot open shared object file`;

async function setupInFreshProcess(cache: string): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./setup.ts", import.meta.url).pathname],
    env: { GANFLOW_CACHE: cache, GANFLOW_ONEDNN_LIB: "libdnnl-hidden-by-test.so.2" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert(out.success, text);
  return text;
}

Deno.test({
  name: "a fresh cache dir gets Debian's libdnnl2, which then loads with the system copy hidden",
  ignore: !hasApt,
  async fn() {
    const cache = await Deno.makeTempDir();
    try {
      const first = await setupInFreshProcess(cache);
      assert(/oneDNN: fetched Debian's libdnnl2 [\d.-]+ .*SHA-256 checked/.test(first), first);
      const loadedFrom = first.match(/loads from (\S+)/)?.[1] ?? "";
      assert(loadedFrom.startsWith(join(cache, "onednn") + "/"), first);
      assert(/oneDNN 2\.6\.\d+ loads/.test(first), first);
      // The manifest's digest is apt's record of the package.
      const manifest = JSON.parse(await Deno.readTextFile(join(cache, "onednn/manifest.json")));
      const show = new TextDecoder().decode(
        (await new Deno.Command("apt-cache", {
          args: ["show", "--no-all-versions", "libdnnl2"],
          stdout: "piped",
        }).output()).stdout,
      );
      assertEquals(manifest.sha256, show.match(/^SHA256: (\w+)/m)?.[1]);
      // A second process finds the cached copy without fetching again.
      const second = await setupInFreshProcess(cache);
      assert(!second.includes("fetched"), second);
      assertEquals(second.match(/loads from (\S+)/)?.[1], loadedFrom);
    } finally {
      await Deno.remove(cache, { recursive: true });
    }
  },
});

Deno.test({
  name: "provisioning fetches the package's dependencies when a shared library is missing",
  ignore: !hasApt,
  async fn() {
    const cache = await Deno.makeTempDir();
    try {
      // A loader that lacks libgomp.so.1 until the provisioner preloads one it fetched.
      const seen: string[][] = [];
      const r = await provisionOneDnn({
        cacheDir: cache,
        tryOpen: (c) => {
          if (c.origin !== "cache") return nothingOpens(c);
          seen.push([...c.preload]);
          return c.preload.some((p) => p.endsWith("/libgomp.so.1"))
            ? null
            : "libgomp.so.1: cannot open shared object file: No such file or directory";
        },
      });
      assertEquals(r.status, "fetched");
      const cached = oneDnnCandidates(cache).find((c) => c.origin === "cache")!;
      assertEquals(cached.preload.length, 1);
      assert(cached.preload[0].endsWith("/libgomp.so.1"), cached.preload[0]);
      assert(Deno.statSync(cached.preload[0]).isFile);
      // The first try loads nothing extra, the second the fetched libgomp1's file, and the last
      // (the published copy) that file from its final place.
      assertEquals(seen.length, 3);
      assertEquals(seen[0], []);
      assertEquals(seen[2], cached.preload);
    } finally {
      await Deno.remove(cache, { recursive: true });
    }
  },
});

Deno.test({
  name: "a missing apt, an unreachable mirror and a wrong digest give notes, not crashes",
  ignore: !hasApt,
  async fn() {
    const cache = await Deno.makeTempDir();
    try {
      const debian = { os: "linux", osRelease: 'ID=debian\nPRETTY_NAME="Debian 12"\n' };
      const noTool = await provisionOneDnn({
        cacheDir: cache,
        tryOpen: nothingOpens,
        platform: debian,
        commands: { aptCache: "/nonexistent/apt-cache" },
      });
      assertEquals(noTool.status, "unavailable");
      assert(noTool.status === "unavailable" && /apt-cache is not installed/.test(noTool.note));

      const offline = await provisionOneDnn({
        cacheDir: cache,
        tryOpen: nothingOpens,
        platform: debian,
        // Every download goes through a proxy on a closed local port.
        aptOptions: [
          "Acquire::http::Proxy=http://127.0.0.1:9",
          "Acquire::https::Proxy=http://127.0.0.1:9",
          "Acquire::Retries=0",
        ],
      });
      assert(
        offline.status === "unavailable" && /download libdnnl2 failed/.test(offline.note),
        JSON.stringify(offline),
      );

      // apt's record altered: the downloaded file no longer matches it.
      const fakeAptCache = join(cache, "apt-cache");
      await Deno.writeTextFile(
        fakeAptCache,
        '#!/bin/sh\napt-cache "$@" | sed \'s/^SHA256: .*/SHA256: ' + "0".repeat(64) + "/'\n",
      );
      await Deno.chmod(fakeAptCache, 0o755);
      const tampered = await provisionOneDnn({
        cacheDir: cache,
        tryOpen: nothingOpens,
        platform: debian,
        commands: { aptCache: fakeAptCache },
      });
      assert(
        tampered.status === "unavailable" && /apt's record says 0{64}/.test(tampered.note),
        JSON.stringify(tampered),
      );
      // Nothing half-done is left for the loader to find.
      assertEquals(oneDnnCandidates(cache).map((c) => c.origin), ["system"]);
    } finally {
      await Deno.remove(cache, { recursive: true });
    }
  },
});

Deno.test("other platforms get their own note; Debian and Ubuntu none", () => {
  assert(/Linux only.*darwin/.test(otherPlatformNote({ os: "darwin", osRelease: "" })!));
  const fedora = 'NAME="Fedora Linux"\nID=fedora\nPRETTY_NAME="Fedora Linux 40"\n';
  assert(/Fedora Linux 40 is not Debian-based/.test(
    otherPlatformNote({ os: "linux", osRelease: fedora })!,
  ));
  assertEquals(otherPlatformNote({ os: "linux", osRelease: "ID=debian\n" }), null);
  assertEquals(
    otherPlatformNote({ os: "linux", osRelease: 'ID=pop\nID_LIKE="ubuntu debian"\n' }),
    null,
  );
});
