/**
 * One compression run's state and its three phases (train/compress.ts says what they do): the
 * condensed teacher (weights W, scales S) and their optimizers, the students being distilled,
 * the probes of the prune-count search, the history, and the one step counter that runs through
 * every phase, picks each minibatch and names checkpoints, so a resumed run retraces an
 * uninterrupted one.
 */
import * as tf from "@tensorflow/tfjs";
import { Params } from "../nn/params.ts";
import { Rng } from "../nn/rng.ts";
import type { NamedArray } from "../nn/tensor_file.ts";
import {
  chainChannelCosts,
  channelCosts,
  hiddenLayers,
  pruneDecoder,
  type SlimDecoderConfig,
  slimForward,
} from "../models/slim_decoder.ts";
import { Adam } from "./adam.ts";
import { DivergenceError, packState, type Stateful, unpackState } from "./checkpoint_state.ts";
import type { CompressOptions, CompressResult } from "./compress_options.ts";
import {
  choosePruneCount,
  decodeAll,
  keepAfterPruning,
  paramsFrom,
  prunable,
  psnrLossDb,
  selectionAdapters,
} from "./compress_pruning.ts";
import { onHost } from "../backend/host_read.ts";
import { stateTensors } from "./host_state.ts";

/** Rows of minibatch `step`: epoch-wise seeded permutations, a pure function of (seed, step). */
export function batchRows(n: number, batch: number, seed: number, step: number): number[] {
  const rows: number[] = [];
  let perm: Uint32Array | null = null, permEpoch = -1;
  for (let j = 0; j < batch; j++) {
    const flat = step * batch + j, epoch = Math.floor(flat / n);
    if (epoch !== permEpoch) {
      perm = Uint32Array.from({ length: n }, (_, i) => i);
      new Rng(seed * 1000003 + epoch).shuffle(perm);
      permEpoch = epoch;
    }
    rows.push(perm![flat % n]);
  }
  return rows;
}

function gather(data: Float32Array, per: number, rows: number[]): Float32Array {
  const out = new Float32Array(rows.length * per);
  rows.forEach((r, j) => out.set(data.subarray(r * per, (r + 1) * per), j * per));
  return out;
}

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function reconLoss(out: tf.Tensor, target: tf.Tensor): tf.Scalar {
  const d = tf.sub(out, target);
  return tf.add(tf.mean(tf.abs(d)), tf.mean(tf.square(d))) as tf.Scalar;
}

function scalesOf(s: Params, names: string[]): Float32Array[] {
  return names.map((n) => s.vars.get(`${n}.s`)!.dataSync() as Float32Array).map((a) =>
    Float32Array.from(a)
  );
}

function stores(list: Record<string, Stateful | null>): Record<string, Stateful> {
  return Object.fromEntries(Object.entries(list).filter(([, v]) => v)) as Record<
    string,
    Stateful
  >;
}

/** A student being distilled: the pruned decoder, its adapters and their optimizers. */
interface Student {
  keep: number[][];
  config: SlimDecoderConfig;
  pruned: Record<string, NamedArray>;
  p: Params;
  adapters: Params;
  opt: Adam;
  optA: Adam;
}

/** A probe's student kept as the result: the most channels removed while meeting the target. */
interface Best {
  count: number;
  keep: number[][];
  arrays: Record<string, NamedArray>;
}

/** What the prune phase chose, and the student that results from it. */
interface Outcome {
  safe: Awaited<ReturnType<typeof choosePruneCount>>;
  scales: Float32Array[];
  weights: Record<string, NamedArray>;
  total: number;
  out: { keep: number[][]; config: SlimDecoderConfig; arrays: Record<string, NamedArray> };
  pruned: Record<string, NamedArray>;
}

export class CompressionRun {
  private readonly cfg: SlimDecoderConfig;
  private readonly names: string[];
  private readonly lr: number;
  private readonly weightLr: number;
  private readonly distillLr: number;
  private readonly l1: number;
  private readonly featureWeight: number;
  private readonly minChannels: number;
  private readonly probeSteps: number;
  private readonly C: number;
  private readonly D: number;
  private readonly n: number;
  private readonly perCode: number;
  private readonly perImage: number;
  /** The condensed teacher: weights and per-channel scales (created at 1 by a first forward). */
  private readonly W: Params;
  private readonly S: Params;
  /** The unmodified teacher, when distillation aims at its pixels or features. */
  private readonly original: Params | null;
  private readonly optW: Adam;
  private readonly optS: Adam;
  private readonly pixelsFrom: "condensed" | "original";
  private readonly featuresFrom: "condensed" | "original";
  private readonly penaltyWeights: number[];
  private readonly history: Record<string, number[]>;
  /** Calibration PSNR loss after `probeSteps` of distillation, by prune count. */
  private readonly probes = new Map<number, number>();
  private final: { keep: number[][]; start: number } | null = null;
  /** With full-length probes: the passing probe with the most channels removed so far. */
  private best: Best | null = null;
  private student: Student | null = null;
  private counter = 0;
  private lastCheckpoint: number | null = null;

  constructor(private readonly o: CompressOptions) {
    const cfg = this.cfg = o.config;
    this.names = hiddenLayers(cfg.levels);
    this.lr = o.lr ?? 1e-2;
    this.weightLr = o.weightLr ?? 1e-3;
    this.distillLr = o.distillLr ?? 3e-3;
    this.l1 = o.l1 ?? 3e-3;
    this.featureWeight = o.featureWeight ?? 1;
    this.minChannels = o.minChannels ?? 1;
    this.probeSteps = Math.min(o.probeSteps ?? o.distillSteps, o.distillSteps);
    this.C = o.condenseSteps;
    this.D = o.distillSteps;
    this.n = o.train.codes.length / prod(o.train.codeShape);
    this.perCode = prod(o.train.codeShape);
    this.perImage = prod(o.train.imageShape);

    this.W = paramsFrom(o.teacher, true);
    this.pixelsFrom = o.pixelsFrom ?? "original";
    this.featuresFrom = o.featuresFrom ?? "condensed";
    this.original = this.pixelsFrom === "original" || this.featuresFrom === "original"
      ? paramsFrom(o.teacher)
      : null;
    this.S = new Params(new Rng(0), true);
    tf.tidy(() =>
      slimForward(this.W, cfg, tf.zeros([1, ...o.train.codeShape]), { scales: this.S })
    );
    this.optW = this.adam(this.weightLr);
    this.optS = this.adam(this.lr);
    const weighting = o.l1Weighting ?? "latency";
    const [codeH, codeW] = o.train.codeShape;
    const costs = weighting === "latency"
      ? chainChannelCosts(cfg, codeH, codeW, o.vectorWidth)
      : channelCosts(cfg, codeH, codeW);
    const meanCost = costs.reduce((a, c, i) => a + c * cfg.channels[i], 0) /
      cfg.channels.reduce((a, b) => a + b, 0);
    this.penaltyWeights = weighting === "uniform"
      ? costs.map(() => 1)
      : costs.map((c) => c / meanCost);
    this.history = Object.fromEntries(
      [
        "condenseStep",
        "condenseLoss",
        "rec",
        "l1",
        "distillStep",
        "distillLoss",
        "pixel",
        "feature",
      ]
        .map((k) => [k, []]),
    );
  }

  private adam(rate: number): Adam {
    return new Adam({ lr: rate, beta1: 0.9, beta2: 0.99, eps: 1e-8 });
  }

  private batchOf(step: number) {
    const o = this.o;
    const rows = batchRows(this.n, o.batch, o.seed, step);
    return {
      z: tf.tensor4d(gather(o.train.codes, this.perCode, rows), [o.batch, ...o.train.codeShape]),
      y: tf.tensor4d(gather(o.train.targets, this.perImage, rows), [
        o.batch,
        ...o.train.imageShape,
      ]),
    };
  }

  private newStudent(keep: number[][]): Student {
    const pr = pruneDecoder(this.W.toArrays(), this.cfg, keep, scalesOf(this.S, this.names));
    return {
      keep,
      config: pr.config,
      pruned: pr.arrays,
      p: paramsFrom(pr.arrays, true),
      adapters: paramsFrom(selectionAdapters(keep, this.cfg.channels, this.names), true),
      opt: this.adam(this.distillLr),
      optA: this.adam(this.distillLr),
    };
  }

  private dropStudent(st: Student | null): void {
    for (const x of [st?.p, st?.adapters, st?.opt, st?.optA]) x?.dispose();
  }

  private studentParts(st: Student | null): Record<string, Stateful> {
    return st ? { St: st.p, A: st.adapters, optSt: st.opt, optA: st.optA } : {};
  }

  private async save(): Promise<void> {
    if (!this.o.checkpoint) return;
    const { W, S, optW, optS } = this;
    // GPU backends: the state is read asynchronously first.
    await onHost(stateTensors({ W, S, optW, optS, ...this.studentParts(this.student) }));
    const state = packState(
      stores({ W, S, optW, optS, ...this.studentParts(this.student) }),
      this.counter,
      new Rng(this.o.seed).state(),
      this.history,
    );
    for (const [k, v] of Object.entries(this.best?.arrays ?? {})) state.arrays[`Best/${k}`] = v;
    state.extra = {
      probes: [...this.probes],
      final: this.final,
      best: this.best && { count: this.best.count, keep: this.best.keep },
    };
    await this.o.checkpoint.save(this.counter, state);
    this.lastCheckpoint = this.counter;
  }

  private record(phase: "condense" | "distill", losses: Record<string, number>): void {
    if (!Number.isFinite(losses.loss)) {
      throw new DivergenceError(this.counter, this.lastCheckpoint, losses);
    }
    const keys = phase === "condense"
      ? {
        condenseStep: this.counter + 1,
        condenseLoss: losses.loss,
        rec: losses.rec,
        l1: losses.l1,
      }
      : {
        distillStep: this.counter + 1,
        distillLoss: losses.loss,
        pixel: losses.pixel,
        feature: losses.feature,
      };
    for (const [k, v] of Object.entries(keys)) this.history[k].push(v);
    this.counter++;
  }

  /** Restores the state of the checkpoint the options carry, if any. */
  async resume(): Promise<void> {
    const s = this.o.checkpoint?.resume;
    if (!s) return;
    const extra = s.extra as
      | {
        probes?: [number, number][];
        final?: { keep: number[][]; start: number } | null;
        best?: { count: number; keep: number[][] } | null;
      }
      | undefined;
    const { W, S, optW, optS } = this;
    unpackState(s, stores({ W, S, optW, optS }));
    for (const [k, v] of extra?.probes ?? []) this.probes.set(k, v);
    this.final = extra?.final ?? null;
    if (extra?.best) {
      const arrays = Object.fromEntries(
        Object.entries(s.arrays).filter(([k]) => k.startsWith("Best/")).map((
          [k, v],
        ) => [k.slice(5), v]),
      );
      this.best = { ...extra.best, arrays };
    }
    if (this.final) {
      await onHost([...W.list(), ...S.list()]); // newStudent reads them synchronously
      this.student = this.newStudent(this.final.keep);
      unpackState(s, stores(this.studentParts(this.student)));
    }
    Object.assign(this.history, s.history);
    this.counter = this.lastCheckpoint = s.step;
  }

  /**
   * 1. Condense. Learning rates decay linearly to 0 over each run of steps: the scales of
   * unused channels then settle at ~0 instead of oscillating around it.
   */
  async condense(): Promise<void> {
    const { o, W, S, optW, optS, C, D, names, weightLr, lr } = this;
    while (this.counter < C) {
      const { z, y } = this.batchOf(this.counter);
      const losses: Record<string, number> = {};
      const decay = 1 - this.counter / C;
      optW.opts.lr = weightLr * decay;
      optS.opts.lr = lr * decay;
      const vars = weightLr > 0 ? [...W.list(), ...S.list()] : S.list();
      let parts: tf.Tensor[] = [];
      const r = tf.variableGrads(() => {
        const rec = reconLoss(slimForward(W, this.cfg, z, { scales: S }).out, y);
        const pen = tf.addN(
          names.map((nm, i) =>
            tf.mul(tf.sum(tf.abs(S.vars.get(`${nm}.s`)!)), this.penaltyWeights[i])
          ),
        );
        parts = [tf.keep(rec), tf.keep(pen)]; // read after the step (asynchronously)
        return tf.add(rec, tf.mul(pen, this.l1)) as tf.Scalar;
      }, vars);
      if (weightLr > 0) optW.apply(W, r.grads);
      optS.apply(S, r.grads);
      [losses.rec, losses.l1] = (await onHost(parts)).map((v) => v[0]);
      tf.dispose(parts);
      losses.loss = (await r.value.data())[0];
      tf.dispose([z, y, r.value, ...Object.values(r.grads)]);
      this.record("condense", losses);
      o.onProgress?.(this.counter, C + D, "condense", losses);
      if (o.checkpoint && (this.counter % o.checkpoint.every === 0 || this.counter === C)) {
        await this.save();
      }
    }
  }

  /** `steps` distillation steps of `st` (its learning rate decaying to 0 over them). */
  private async distill(st: Student, from: number, steps: number, total: number): Promise<void> {
    const { o, W, S, cfg, names, original, pixelsFrom, featuresFrom, distillLr } = this;
    while (this.counter < from + steps) {
      const { z, y } = this.batchOf(this.counter);
      y.dispose(); // the student learns from the teacher's outputs and features
      const losses: Record<string, number> = {};
      // Warm up over the first tenth (a full-rate Adam step first wrecks the pruned weights:
      // the pixel loss rose 3x before recovering), then decay linearly to 0.
      const i = this.counter - from, warm = Math.max(1, Math.round(steps / 10));
      st.opt.opts.lr = st.optA.opts.lr = distillLr * Math.min(1, (i + 1) / warm) * (1 - i / steps);
      const t = tf.tidy(() => {
        const c = pixelsFrom === "condensed" || featuresFrom === "condensed"
          ? slimForward(W, cfg, z, { scales: S })
          : null;
        const g = original ? slimForward(original, cfg, z) : null;
        const pixels = (pixelsFrom === "original" ? g : c)!.out;
        return [pixels, ...(featuresFrom === "original" ? g : c)!.features];
      });
      let parts: tf.Tensor[] = [];
      const r = tf.variableGrads(() => {
        const f = slimForward(st.p, st.config, z);
        const pix = reconLoss(f.out, t[0]);
        const feats = f.features.map((h, i) => {
          const a = st.adapters.vars.get(`adapt.${names[i]}.w`) as tf.Variable<tf.Rank.R4>;
          return tf.mean(tf.square(tf.sub(tf.conv2d(h, a, 1, "same"), t[i + 1])));
        });
        const feat = tf.div(tf.addN(feats), feats.length) as tf.Scalar;
        parts = [tf.keep(pix), tf.keep(feat)]; // read after the step (asynchronously)
        return tf.add(pix, tf.mul(feat, this.featureWeight)) as tf.Scalar;
      }, [...st.p.list(), ...st.adapters.list()]);
      st.opt.apply(st.p, r.grads);
      st.optA.apply(st.adapters, r.grads);
      [losses.pixel, losses.feature] = (await onHost(parts)).map((v) => v[0]);
      tf.dispose(parts);
      losses.loss = (await r.value.data())[0];
      tf.dispose([z, r.value, ...Object.values(r.grads), ...t]);
      this.record("distill", losses);
      o.onProgress?.(this.counter, total, "distill", losses);
      if (
        o.checkpoint && this.final && this.counter % o.checkpoint.every === 0 &&
        this.counter < from + steps
      ) {
        await this.save();
      }
    }
  }

  private async calibrationLoss(p: Params, c: SlimDecoderConfig): Promise<number> {
    const cal = this.o.calibration;
    return psnrLossDb(cal, await decodeAll(p, c, cal.codes, cal.codeShape));
  }

  /**
   * 2. Prune, then 3. distill. How many channels: a budget is direct. For a PSNR target, the
   * pruned-only loss (no retraining) gives a count that surely fits; distillation recovers much
   * more, so larger counts are probed by distilling each (binary search on a grid of ~1/16 of the
   * channels), and the largest whose calibration loss meets the target is taken. With
   * full-length probes (the default) the chosen probe's student is the result: what was
   * measured is what is returned; otherwise the chosen student is distilled now.
   */
  async pruneAndDistill(): Promise<Outcome> {
    const { o, cfg, names, minChannels, probeSteps, C, D } = this;
    await onHost([...this.W.list(), ...this.S.list()]); // read synchronously from here on (GPU backends)
    const scales = scalesOf(this.S, names);
    const weights = this.W.toArrays();
    const safe = await choosePruneCount(weights, scales, cfg, o.calibration, o.target, minChannels);
    const max = prunable(cfg.channels, minChannels);
    const total = cfg.channels.reduce((a, b) => a + b, 0);
    const grid = Math.max(1, Math.round(total / 16));
    const candidates: number[] = [];
    for (let c = safe.count + grid; c < max + grid; c += grid) candidates.push(Math.min(c, max));
    const limit = "maxPsnrLossDb" in o.target ? o.target.maxPsnrLossDb : Infinity;
    const search = limit < Infinity && probeSteps > 0 && candidates.length > 0;
    const reuse = probeSteps === D;
    const probe = async (count: number) => {
      const known = this.probes.get(count);
      if (known !== undefined) return known;
      const st = this.newStudent(keepAfterPruning(scales, count, minChannels).keep);
      const estimate = C + Math.ceil(Math.log2(candidates.length + 1)) * probeSteps +
        (reuse ? 0 : D);
      await this.distill(st, this.counter, probeSteps, estimate);
      const l = await this.calibrationLoss(st.p, st.config);
      if (reuse && l <= limit && (!this.best || count > this.best.count)) {
        await onHost(st.p.list());
        this.best = { count, keep: st.keep, arrays: st.p.toArrays() };
      }
      this.dropStudent(st);
      this.probes.set(count, l);
      await this.save();
      return l;
    };
    let count = safe.count;
    if (!this.final && search) {
      let lo = -1, hi = candidates.length - 1; // candidates[lo] fits (-1: safe.count)
      while (lo < hi) {
        const mid = Math.ceil((lo + hi + 1) / 2);
        if (await probe(candidates[mid]) <= limit) lo = mid;
        else hi = mid - 1;
      }
      if (lo >= 0) count = candidates[lo];
    }
    let out: Outcome["out"];
    let pruned: Record<string, NamedArray>;
    const chosen = this.best;
    if (!this.final && chosen && chosen.count === count) {
      const pr = pruneDecoder(weights, cfg, chosen.keep, scales);
      out = { keep: chosen.keep, config: pr.config, arrays: chosen.arrays };
      pruned = pr.arrays;
    } else {
      // 3. Distill the chosen student (when no probe already did).
      if (!this.final) {
        this.final = {
          keep: keepAfterPruning(scales, count, minChannels).keep,
          start: this.counter,
        };
        this.student = this.newStudent(this.final.keep);
      }
      const student = this.student!;
      await this.distill(student, this.final.start, D, this.final.start + D);
      await onHost(student.p.list());
      out = { keep: this.final.keep, config: student.config, arrays: student.p.toArrays() };
      pruned = student.pruned;
      this.dropStudent(student);
    }
    return { safe, scales, weights, total, out, pruned };
  }

  /** The result of the run, and its tensors released. */
  async finish(r: Outcome): Promise<CompressResult> {
    const { minChannels } = this;
    const removed = r.total - r.out.keep.reduce((a, k) => a + k.length, 0);
    const sp = paramsFrom(r.out.arrays);
    const result: CompressResult = {
      condensed: { arrays: r.weights, scales: r.scales },
      keep: r.out.keep,
      pruned: { arrays: r.pruned, config: r.out.config },
      student: { arrays: r.out.arrays, config: r.out.config },
      selection: {
        prunedOnly: r.safe.selection,
        distilled: [...this.probes].sort((a, b) => a[0] - b[0]).map(([pruned, lossDb]) => ({
          pruned,
          lossDb,
        })),
      },
      threshold: keepAfterPruning(r.scales, removed, minChannels).threshold,
      calibrationLossDb: await this.calibrationLoss(sp, r.out.config),
      history: this.history,
    };
    sp.dispose();
    for (const x of [this.W, this.S, this.original, this.optW, this.optS]) x?.dispose();
    return result;
  }
}
