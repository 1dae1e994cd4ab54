/** The shape of a GAN (shared by every architecture) and the depth/width rules. */
export type GanArch = "dcgan" | "progan" | "fastgan";

export interface GanConfig {
  /** Output sample size: [H, W, C] (codes: e.g. [8, 8, 4]; pixels: [32, 32, 3]). */
  shape: [number, number, number];
  zDim: number;
  /**
   * A discrete part of G's prior: each latent also draws one of `zModes` modes, given to G as a
   * one-hot of the Gaussian part's norm, so G can map modes to disconnected shapes (digits)
   * instead of bridging them through malformed ones. Default 0 (a Gaussian prior only).
   */
  zModes?: number;
  /** How often each mode is drawn (sums to 1; absent: uniformly), e.g. clusters' shares of the data. */
  modeWeights?: number[];
  /**
   * D is told each sample's mode and judges it against that mode's real samples (a projection
   * term, Miyato & Koyama 2018): self-conditioning (Liu et al. 2020) when the modes are clusters
   * of the real data. DCGAN's D only.
   */
  conditionD?: boolean;
  /** Channels at 4x4; halved per doubling, not below `minChannels` nor above `maxChannels`. */
  baseChannels: number;
  minChannels?: number;
  /**
   * ProGAN's fmap_max: with a large `baseChannels` the width stays at this cap through the low
   * resolutions and halves only near the output (ProGAN: base 4096 at 4x4, cap 512 -> 512 up
   * to 32², 256 at 64²), which makes the low-resolution phases of progressive growing cheap.
   */
  maxChannels?: number;
  /** Bound G's output with tanh (images in [-1, 1]); codes are left linear. */
  tanh: boolean;
  /** Default "dcgan". */
  arch?: GanArch;
  /** G's 3x3 convs: dense, or depthwise + pointwise (Faster Projected GAN). Default standard. */
  conv?: "standard" | "separable";
  /** Also make D's 3x3 convs separable. */
  separableD?: boolean;
  /**
   * DCGAN's D: append the minibatch standard deviation (ProGAN) as a feature at 4x4, so D sees
   * how varied a batch is and G is pushed away from collapsing onto few modes. Default false.
   */
  mbstd?: boolean;
  /** "projected": D judges frozen pretrained features (Projected GAN). Default standard. */
  discriminator?: "standard" | "projected";
}

/** The width of G's input: the Gaussian part and the one-hot of the mode. */
export function latentWidth(cfg: Pick<GanConfig, "zDim" | "zModes">): number {
  return cfg.zDim + (cfg.zModes ?? 0);
}

/** How far a progressive GAN has grown: `level` doubling blocks active, `alpha` the fade-in. */
export interface Phase {
  level: number;
  alpha: number;
}

export function blocks(cfg: GanConfig): number {
  const n = Math.log2(cfg.shape[0] / 4);
  if (!Number.isInteger(n) || n < 0 || cfg.shape[0] !== cfg.shape[1]) {
    throw new Error(`GAN sample size must be square, a power of two >= 4: got ${cfg.shape}`);
  }
  return n;
}

export function channelsAt(cfg: GanConfig, block: number): number {
  const halved = Math.floor(cfg.baseChannels / 2 ** block);
  return Math.max(cfg.minChannels ?? 16, Math.min(cfg.maxChannels ?? Infinity, halved));
}

export function fullyGrown(cfg: GanConfig): Phase {
  return { level: blocks(cfg), alpha: 1 };
}
