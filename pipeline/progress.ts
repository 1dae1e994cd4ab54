/** Progress lines with elapsed time and an ETA from the average rate so far. */
export interface ProgressLine {
  update(done: number, total: number, label?: string): void;
  finish(): void;
}

export function formatSeconds(s: number): string {
  if (!isFinite(s)) return "?";
  if (s < 59.5) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  const total = Math.round(s);
  const m = Math.floor(total / 60);
  if (m < 60) return `${m}m${String(total % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

export function progressLine(
  prefix: string,
  write: (line: string, transient: boolean) => void,
  now: () => number = () => performance.now(),
): ProgressLine {
  const start = now();
  let lastPrint = -Infinity;
  let lastFraction = -1;
  let last = "";
  let lastTransient = false;
  return {
    update(done, total, label) {
      const t = now();
      const fraction = total > 0 ? done / total : 0;
      // Throttle: at most twice a second, plus every 10% and at the end.
      const step = Math.floor(fraction * 10) !== Math.floor(lastFraction * 10);
      if (t - lastPrint < 500 && !step && done < total) return;
      lastPrint = t;
      lastFraction = fraction;
      const elapsed = (t - start) / 1000;
      // The first moments hold start-up costs (opening files, compiling), which a rate taken
      // from them spreads over all the work: no estimate before 1% or 5 s.
      const settled = fraction >= 0.01 || elapsed >= 5;
      const eta = done > 0 && settled ? elapsed * (total - done) / done : Infinity;
      const pct = (100 * fraction).toFixed(0).padStart(3);
      last = `${prefix} ${pct}% ${done}/${total}${label ? " " + label : ""}  ` +
        `elapsed ${formatSeconds(elapsed)}  ETA ${done >= total ? "0s" : formatSeconds(eta)}`;
      lastTransient = done < total;
      write(last, lastTransient);
    },
    finish() {
      // Make a progress bar left mid-way on a terminal permanent; complete ones already are.
      if (last && lastTransient) write(last, false);
    },
  };
}
