/**
 * A Slurm cluster for tests: the one named by GANFLOW_TEST_SLURM_CONF (started beforehand with
 * scripts/slurm_cluster.sh), else a fresh single-node cluster under a temp dir on free ports,
 * stopped by `stop()`. Where Slurm or root is missing, `unavailable` says why, for `ignore`.
 */
import { join } from "node:path";

const SCRIPT = new URL("../../scripts/slurm_cluster.sh", import.meta.url).pathname;

export interface TestCluster {
  /** Environment for the CLI and Slurm commands (SLURM_CONF). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

function onPath(cmd: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((d) => {
    try {
      return Deno.statSync(join(d, cmd)).isFile;
    } catch {
      return false;
    }
  });
}

/** Why cluster tests cannot run here, or null when they can. */
export function slurmUnavailable(): string | null {
  if (Deno.env.get("GANFLOW_TEST_SLURM_CONF")) return null;
  const isFile = (p: string) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  };
  const missing = ["slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "munged"].filter(
    (c) => !onPath(c) && !isFile(`/usr/sbin/${c}`),
  );
  if (missing.length) {
    return `no Slurm here (missing ${
      missing.join(", ")
    }): apt-get install slurmctld slurmd slurm-client munge`;
  }
  if (Deno.uid() !== 0) {
    return "starting a test cluster needs root (slurmd runs jobs as their users)";
  }
  return null;
}

function freePort(): number {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    try {
      for (const p of [port, port + 1]) Deno.listen({ port: p, hostname: "127.0.0.1" }).close();
      return port;
    } catch { /* taken: try another */ }
  }
  throw new Error("no free port pair for slurmctld/slurmd");
}

export async function startTestCluster(): Promise<TestCluster> {
  const given = Deno.env.get("GANFLOW_TEST_SLURM_CONF");
  if (given) return { env: { SLURM_CONF: given }, stop: () => Promise.resolve() };
  const dir = await Deno.makeTempDir({ prefix: "ganflow-slurm-" });
  await Deno.chmod(dir, 0o755); // slurmctld runs as the slurm user
  const out = await new Deno.Command("bash", {
    args: [SCRIPT, "start", dir],
    env: { SLURM_CLUSTER_PORT: String(freePort()), SLURM_CRED_EXPIRE: "5" },
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (out.code !== 0) throw new Error(`test cluster did not start:\n${text}`);
  return {
    env: { SLURM_CONF: join(dir, "slurm.conf") },
    async stop() {
      await new Deno.Command("bash", { args: [SCRIPT, "stop", dir] }).output();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
