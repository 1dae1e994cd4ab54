/**
 * The generator training recipe, shared by the `train-generator` stage and the benchmarks so
 * they train exactly alike: Adam's settings per architecture (ProGAN's paper values, lr 1e-3 and beta1
 * 0, for every architecture, with an R1 penalty where the loss is not WGAN's: they beat DCGAN's
 * lr 2e-4, beta1 0.5 in the ablation of docs/quality.md), what `loss: "auto"` means (WGAN-GP for progan, as the paper,
 * else the non-saturating logistic loss) with WGAN-GP's regularisers or R1, and the `StepNets`
 * bundle one training step runs.
 */
import type { Params } from "../nn/params.ts";
import {
  discriminate,
  type GanArch,
  type GanCallOptions,
  type GanConfig,
  generate,
} from "../models/gan.ts";
import type { AdamOptions } from "./adam.ts";
import type { StepNets } from "./gan_step.ts";
import type { DRegularisers, GanLossName } from "./losses.ts";

/** A loss as the stage's `loss` parameter names it: "wgan-gp" is WGAN with its regularisers. */
export type LossChoice = "auto" | GanLossName | "wgan-gp";

/**
 * Adam: ProGAN's (1e-3, 0, 0.99) for every architecture. Without momentum in the first moment
 * the R1-regularised D follows G closely; DCGAN's (2e-4, 0.5) trained worse; 2e-3 diverged with
 * R1 0.1 at constant rates, and in the default recipe trains but scores worse.
 */
export function adamFor(_arch: GanArch = "dcgan"): AdamOptions {
  return { lr: 1e-3, beta1: 0, beta2: 0.99, eps: 1e-8 };
}

/** R1's gamma where the stage leaves it unset: 1 for logistic and hinge D, none for WGAN's. */
export const DEFAULT_R1_GAMMA = 1;
/** Lazy R1 (StyleGAN2): the penalty every 4th step, its weight scaled by 4. */
export const DEFAULT_R1_EVERY = 4;

/** ProGAN's WGAN-GP regularisers: gradient penalty weight 10, drift 1e-3. */
export const PROGAN_WGAN_GP: DRegularisers = { gpLambda: 10, drift: 1e-3 };

export interface RecipeOptions {
  arch?: GanArch;
  /** Default "auto". */
  loss?: LossChoice;
  /** WGAN-GP's regularisers; default ProGAN's. */
  gp?: DRegularisers;
  /** Overrides of the architecture's Adam settings. */
  lr?: number;
  beta1?: number;
  beta2?: number;
  /** R1's gamma (0: none); unset: the recipe's for the loss. */
  r1Gamma?: number;
  r1Every?: number;
}

/** What `trainGan` takes from the recipe, and the loss's name as runs report it. */
export interface GanRecipe {
  lossName: Exclude<LossChoice, "auto">;
  options: {
    lr: number;
    beta1: number;
    beta2: number;
    loss: GanLossName;
    reg?: DRegularisers;
    r1?: { gamma: number; every: number };
  };
}

export function ganRecipe(o: RecipeOptions = {}): GanRecipe {
  const adam = adamFor(o.arch);
  const choice = o.loss ?? "auto";
  const lossName = choice === "auto" ? (o.arch === "progan" ? "wgan-gp" : "logistic") : choice;
  // WGAN's critic is kept near slope 1 by its own penalty, not pulled flat at the data.
  const wgan = lossName === "wgan" || lossName === "wgan-gp";
  const r1Gamma = o.r1Gamma ?? (wgan || o.arch === "progan" ? 0 : DEFAULT_R1_GAMMA);
  return {
    lossName,
    options: {
      lr: o.lr ?? adam.lr,
      beta1: o.beta1 ?? adam.beta1,
      beta2: o.beta2 ?? adam.beta2,
      loss: lossName === "wgan-gp" ? "wgan" : lossName,
      reg: lossName === "wgan-gp" ? o.gp ?? PROGAN_WGAN_GP : undefined,
      ...(r1Gamma > 0 ? { r1: { gamma: r1Gamma, every: o.r1Every ?? DEFAULT_R1_EVERY } } : {}),
    },
  };
}

/** G and D of `cfg` over their weights, as one training step calls them (`call`: phase, noise). */
export function stepNets(
  nets: { g: Params; d: Params },
  cfg: GanConfig,
  call: GanCallOptions = {},
): StepNets {
  const { g, d } = nets;
  return {
    g,
    d,
    G: (z) => generate(g, cfg, z, call),
    D: (x, modes) => discriminate(d, cfg, x, { ...call, modes }),
    DLean: (x, modes) => discriminate(d, cfg, x, { ...call, lean: true, modes }),
  };
}
