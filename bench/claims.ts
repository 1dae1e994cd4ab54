/**
 * The seeds' claims next to what ganflow measures: each claim names the result figures it is
 * judged on (bench/results/*.json) and how. The reason for a claim not met here is written by
 * hand; every number comes from a results file.
 */
import type { Figure } from "./results.ts";

export interface ClaimRow {
  claim: string;
  /** The paper's figure, as the paper states it. */
  paper: string;
  /** The benchmark that measures it, as run for the results file. */
  bench: string;
  /** Our figure and whether it meets the claim, from the figures of `bench`; null: not measured. */
  judge(fig: (id: string) => Figure | undefined): { ours: string; met: boolean } | null;
  /** Why it is not met here (shown only when it is not). */
  reason: string;
}

const pct = (f: Figure) => `${f.value > 0 ? "+" : ""}${f.value.toFixed(0)}%`;

export const CLAIMS: ClaimRow[] = [
  {
    claim: "Two-stage latent training is cheaper per image",
    paper: "Liu et al. 2019: training in the code space",
    bench: "latent",
    judge: (fig) => {
      const r = fig("latent.64.pixel_over_latent");
      return r
        ? { ours: `${r.value.toFixed(1)}x cheaper per kimg at 64²`, met: r.value > 1 }
        : null;
    },
    reason: "",
  },
  {
    claim: "Depthwise-separable G is faster",
    paper: "Faster Projected GAN: -20% time",
    bench: "methods",
    judge: (fig) => {
      const t = fig("methods.latent.512.separable.step_change_pct");
      return t ? { ours: `${pct(t)} step time (latent, width 512)`, met: t.value <= -20 } : null;
    },
    reason: "At narrow widths the convolutions are memory-bound, so fewer multiply-adds save less.",
  },
  {
    claim: "Depthwise-separable G needs less memory",
    paper: "Faster Projected GAN: -15% memory",
    bench: "methods",
    judge: (fig) => {
      const m = fig("methods.latent.512.separable.train_mb_change_pct");
      return m
        ? { ours: `${pct(m)} training memory (latent, width 512)`, met: m.value <= -15 }
        : null;
    },
    reason:
      "A step keeps the same activations either way; only weights and optimizer state shrink.",
  },
  {
    claim: "One-stage training is faster per step",
    paper: "Shen et al.: 1.5x",
    bench: "methods",
    judge: (fig) => {
      const s = fig("methods.latent.512.one_stage.speedup_vs_paper_loop");
      return s ? { ours: `${s.value.toFixed(2)}x (latent, width 512)`, met: s.value >= 1.5 } : null;
    },
    reason: "Counting passes bounds it at 1.33-1.5x; weight gradients are cheap on this backend.",
  },
  {
    claim: "Progressive growing gives better quality at equal time",
    paper: "ProGAN: faster convergence",
    bench: "methods",
    judge: (fig) => {
      const r = fig("methods.growth.fixed_over_progressive_swd");
      return r ? { ours: `SWD fixed/progressive ${r.value.toFixed(2)}`, met: r.value > 1 } : null;
    },
    reason: "At MNIST scale the fixed network is small enough to catch up within the budget.",
  },
  {
    claim: "A compressed decoder decodes in real time on a CPU",
    paper: "Device-efficient AE: real-time CPU decoding; ours: >= 3x at <= 1 dB",
    bench: "compress",
    judge: (fig) => {
      const s = fig("compress.256.b1.speedup"), d = fig("compress.256.psnr_loss_db");
      return s && d
        ? {
          ours: `${s.value.toFixed(1)}x faster at 256², ${d.value.toFixed(2)} dB lost`,
          met: s.value >= 3 && d.value <= 1,
        }
        : null;
    },
    reason: "The pruned student loses more than 1 dB at this speed-up.",
  },
  {
    claim: "Slurm adds little per stage",
    paper: "ganflow's own target: < 3 s per stage, >= 5x less than Snakemake",
    bench: "cluster",
    judge: (fig) => {
      const o = fig("cluster.slurm.per_stage_overhead.s");
      const r = fig("cluster.snakemake_over_ganflow_overhead");
      return o
        ? {
          ours: `${o.value.toFixed(1)} s per stage` +
            (r ? `, ${r.value.toFixed(0)}x less than Snakemake` : ""),
          met: o.value < 3 && (!r || r.value >= 5),
        }
        : null;
    },
    reason: "The test cluster schedules every 2 s, and Deno starts once per job.",
  },
  {
    claim: "bf16 training is faster than fp32 where the CPU has bf16",
    paper: "ganflow's own target: >= 1.5x fp32 (AVX-512 BF16 or AMX)",
    bench: "backend",
    judge: (fig) => {
      const r = fig("backend.fp32_over_bf16_64");
      return r
        ? { ours: `${r.value.toFixed(2)}x fp32's speed (64², batch 32)`, met: r.value >= 1.5 }
        : null;
    },
    reason: "Weight gradients, element-wise ops and Adam stay fp32; the bf16 inputs are copies.",
  },
  {
    claim: "The oneDNN backend beats PyTorch on the same cores",
    paper: "ganflow's own target: >= 1.3x PyTorch 1.13",
    bench: "backend",
    judge: (fig) => {
      const r = fig("backend.torch_over_onednn_64");
      return r
        ? { ours: `${r.value.toFixed(2)}x PyTorch's speed (64², batch 32)`, met: r.value >= 1.3 }
        : null;
    },
    reason:
      "Convolutions dominate and run at PyTorch's speed; fewer multiply-adds are still to come.",
  },
];
