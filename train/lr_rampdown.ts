/**
 * A learning-rate ramp-down at the end of a run: the rate stays as set until the last
 * `rampdown` fraction of the steps, then falls along a half cosine to 0 at the end, so the last
 * updates are small and the final weights settle instead of jumping around where the full rate
 * keeps them. A function of the step alone, so a resumed run follows the same schedule.
 */

/** The factor on the learning rate at `step` (0-based) of a run of `steps`. */
export function lrScaleAt(step: number, steps: number, rampdown: number): number {
  if (rampdown <= 0) return 1;
  const t = (step - (1 - rampdown) * steps) / (rampdown * steps);
  return t <= 0 ? 1 : 0.5 * (1 + Math.cos(Math.PI * Math.min(1, t)));
}
