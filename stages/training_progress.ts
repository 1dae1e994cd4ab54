/** The progress of a training stage's loop, with a note where the backend makes it hours long. */
import { oneDnnLoadError } from "../backend/onednn/ffi.ts";
import { formatSeconds } from "../pipeline/progress.ts";
import type { StageContext } from "../pipeline/stage.ts";

/**
 * Progress of a training loop: a first line at once (one step on the pure-JS backend can take
 * minutes), and where the plain cpu backend's ETA exceeds an hour, one line saying why and what
 * fixes it.
 */
export function trainingProgress(
  ctx: StageContext<unknown>,
  backend: string,
  total: number,
  now: () => number = () => performance.now(),
): (done: number, total: number, label?: string) => void {
  const start = now();
  let warned = false;
  ctx.progress(0, total, "first step");
  return (done, total, label) => {
    ctx.progress(done, total, label);
    if (warned || backend !== "cpu" || done <= 0 || done >= total) return;
    const eta = (now() - start) / 1000 * (total - done) / done;
    if (eta <= 3600) return;
    warned = true;
    ctx.log(
      `note: about ${formatSeconds(eta)} left on the plain cpu backend (pure JS, far slower ` +
        `than oneDNN), because oneDNN did not load (${oneDnnLoadError() || "not tried"}). Fix: ` +
        `on Debian/Ubuntu ganflow fetches it by itself (unless GANFLOW_ONEDNN_FETCH=0): check ` +
        `the note above; or apt-get install libdnnl2; then run again (finished steps resume ` +
        `from the last checkpoint)`,
    );
  };
}
