/**
 * CPU seconds this process has used so far, over all its threads. Benchmarks that give two
 * training modes equal budgets measure in CPU time so that other jobs on a shared machine slow
 * the wall clock without favouring whichever mode ran while they did.
 */
import process from "node:process";

export function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
