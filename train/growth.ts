/**
 * ProGAN's growth schedule: train at the start resolution for `stableKimg` thousand images,
 * then for each doubling fade the new block in over `fadeKimg` (alpha 0 -> 1) and train it
 * stable for `stableKimg`; after the last doubling stay there. A phase is a pure function of
 * the step, so a run resumed from a checkpoint taken mid-fade resumes mid-fade.
 */
export interface Growth {
  /** Start resolution (4, 8, ...). */
  start: number;
  fadeKimg: number;
  stableKimg: number;
  /** Minibatch size per resolution (ProGAN shrinks it as images grow); default: `batch`. */
  batchByResolution?: Record<string, number>;
}

export interface GrowthPhase {
  /** Doubling blocks active: resolution 4 * 2^level. */
  level: number;
  resolution: number;
  alpha: number;
  batch: number;
}

export function growthPhase(
  step: number,
  growth: Growth,
  finalLevel: number,
  defaultBatch: number,
): GrowthPhase {
  const startLevel = Math.log2(growth.start / 4);
  if (!Number.isInteger(startLevel) || startLevel < 0 || startLevel > finalLevel) {
    throw new Error(
      `growth.start must be a power of two between 4 and ${
        4 * 2 ** finalLevel
      }: got ${growth.start}`,
    );
  }
  const batchAt = (level: number) =>
    growth.batchByResolution?.[String(4 * 2 ** level)] ?? defaultBatch;
  const stepsFor = (kimg: number, level: number) => Math.ceil((kimg * 1000) / batchAt(level));
  const phase = (level: number, alpha: number): GrowthPhase => ({
    level,
    resolution: 4 * 2 ** level,
    alpha,
    batch: batchAt(level),
  });
  let s = step;
  for (let level = startLevel;; level++) {
    if (level > startLevel) {
      const fade = stepsFor(growth.fadeKimg, level);
      if (s < fade) return phase(level, s / fade);
      s -= fade;
    }
    const stable = stepsFor(growth.stableKimg, level);
    if (level === finalLevel || s < stable) return phase(level, 1);
    s -= stable;
  }
}
