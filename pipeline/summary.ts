/** The table a run ends with: one line per stage, its outcome and seconds. */
import { formatSeconds } from "./progress.ts";
import type { StageResult } from "./runner.ts";

export function summaryTable(results: StageResult[], total: number): string {
  const w = Math.max(5, ...results.map((r) => r.stage.length));
  const lines = [`\n${"stage".padEnd(w)}  ${"result".padEnd(9)}  seconds`];
  for (const r of results) {
    lines.push(
      `${r.stage.padEnd(w)}  ${r.outcome.padEnd(9)}  ${r.seconds.toFixed(2).padStart(7)}${
        r.error ? `  ${r.error.split("\n")[0]}` : ""
      }`,
    );
  }
  lines.push(`total ${formatSeconds(total)}`);
  return lines.join("\n");
}

export function anyFailed(results: StageResult[]): boolean {
  return results.some((r) => r.outcome === "failed" || r.outcome === "skipped");
}
