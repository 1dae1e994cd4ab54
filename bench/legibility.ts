/**
 * `deno task bench legibility [--store=DIR] [--samples-dir=DIR] [--epochs=8] [--seed=1]
 * [--label=NAME]`: how legible generated digits are (bench/digit_classifier.ts). A classifier is
 * trained on the store's prepared images (all but the last 1000) and reads the held-out 1000 and
 * each samples array (`sample`'s `samples.zarr`): every `*.zarr` in `--samples-dir` (by name),
 * else the store's latest (`out/sample/samples.zarr`). It prints and records the share read with
 * confidence >= 0.9, real and generated. Without `--store` it first runs the default pipeline up
 * to `sample` in a fresh store. `--label` names the results file.
 */
import { join } from "node:path";
import { readFloatArray } from "../data/zarr_arrays.ts";
import { datasetResolution } from "../stages/prepared_dataset.ts";
import { initBackend } from "../backend/mod.ts";
import type { BenchRecorder } from "./results.ts";
import { flag, numberFlag } from "./flags.ts";
import {
  accuracy,
  classProbabilities,
  classShares,
  confidentShare,
  firstChannel,
  totalVariation,
  trainClassifier,
} from "./digit_classifier.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const HELD_OUT = 1000;
const THRESHOLD = 0.9;

async function defaultStore(): Promise<string> {
  const store = await Deno.makeTempDir({ prefix: "ganflow-bench-legibility-" });
  console.log(`running the default pipeline up to sample in ${store}`);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "run", "sample", "--store", store],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error("the pipeline failed (see above)");
  return store;
}

export async function benchLegibility(args: string[], rec?: BenchRecorder): Promise<void> {
  const given = flag(args, "store");
  const store = given ?? await defaultStore();
  try {
    await score(args, store, rec);
  } finally {
    if (!given) await Deno.remove(store, { recursive: true });
  }
}

/** A samples array's legibility: the share read confidently, and its classes' distance. */
export interface Legibility {
  /** Share of samples read with confidence >= 0.9. */
  share: number;
  /** Total variation between the classes the samples are read as and the real images'. */
  classTv: number;
  /** The class read least often, and its share. */
  rarest: { digit: number; share: number };
  count: number;
}

/** A classifier trained on a store's prepared digits, ready to score samples arrays. */
export interface DigitReader {
  /** On the held-out real images. */
  accuracy: number;
  real: number;
  read(path: string): Promise<Legibility>;
}

/**
 * Trains the classifier on a prepared dataset's images (all but the last 1000) and reads the
 * held-out ones; throws when the dataset has no labels.
 */
export async function digitReader(
  dataset: string,
  o: { epochs?: number; seed?: number; log?: (line: string) => void } = {},
): Promise<DigitReader> {
  const log = o.log ?? console.log;
  const labelsArr = await readFloatArray(dataset, "labels").catch((e) => {
    throw new Error(`${dataset}: legibility needs a labelled dataset (${e.message})`);
  });
  const images = await readFloatArray(dataset, `images/${await datasetResolution(dataset)}`);
  const [n, ih, iw, ic] = images.shape;
  const labels = Int32Array.from(labelsArr.data);
  const classes = Math.max(...labels) + 1;
  if (n <= HELD_OUT) throw new Error(`${dataset}: ${n} images; more than ${HELD_OUT} needed`);
  const gray = firstChannel(images.data, n, [ih, iw, ic], (v) => v / 127.5 - 1);
  const train = n - HELD_OUT, per = ih * iw;
  const t0 = performance.now();
  const p = trainClassifier(gray.subarray(0, train * per), labels.subarray(0, train), [ih, iw], {
    classes,
    epochs: o.epochs ?? 8,
    seed: o.seed ?? 1,
    onEpoch: (e, loss) => log(`  epoch ${e + 1}: loss ${loss.toFixed(4)}`),
  });
  log(`classifier trained on ${train} images in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  const held = classProbabilities(p, gray.subarray(train * per), [ih, iw], classes);
  const realShares = classShares(held, classes);
  return {
    accuracy: accuracy(held, labels.subarray(train), classes),
    real: confidentShare(held, classes, THRESHOLD),
    async read(path) {
      const s = await readFloatArray(path, "images");
      const [m, sh, sw, sc] = s.shape;
      if (sh !== ih || sw !== iw) {
        throw new Error(`${path}: ${sh}x${sw} samples, ${ih}x${iw} real images`);
      }
      const g = firstChannel(s.data, m, [sh, sw, sc], (v) => Math.max(-1, Math.min(1, v)));
      const probs = classProbabilities(p, g, [ih, iw], classes);
      // How far the digits the samples are read as are from the real digits' mix: legibility
      // bought by dropping the harder digits shows here.
      const shares = classShares(probs, classes);
      const rarest = shares.indexOf(Math.min(...shares));
      return {
        share: confidentShare(probs, classes, THRESHOLD),
        classTv: totalVariation(shares, realShares),
        rarest: { digit: rarest, share: shares[rarest] },
        count: m,
      };
    },
  };
}

async function score(args: string[], store: string, rec?: BenchRecorder): Promise<void> {
  const dir = flag(args, "samples-dir");
  const samples: [string, string][] = dir
    ? [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".zarr")).map((e) => e.name)
      .sort().map((name) => [name.slice(0, -5), join(dir, name)])
    : [["samples", join(store, "out", "sample", "samples.zarr")]];
  if (samples.length === 0) throw new Error(`${dir}: no *.zarr samples arrays`);
  const info = await initBackend("auto");
  console.log(`backend: ${info.name}`);
  const reader = await digitReader(join(store, "out", "prepare", "dataset.zarr"), {
    epochs: numberFlag(args, "epochs", 8),
    seed: numberFlag(args, "seed", 1),
  });
  console.log(
    `held-out real images: accuracy ${(100 * reader.accuracy).toFixed(1)}%, ` +
      `read with confidence >= ${THRESHOLD}: ${(100 * reader.real).toFixed(1)}%`,
  );
  rec?.figure(
    "legibility.classifier_accuracy",
    "classifier accuracy on held-out real images",
    100 * reader.accuracy,
    "%",
  );
  rec?.figure("legibility.real", "held-out real images read confidently", 100 * reader.real, "%");
  for (const [name, path] of samples) {
    const l = await reader.read(path);
    console.log(
      `${name}: ${l.count} samples, read with confidence >= ${THRESHOLD}: ` +
        `${(100 * l.share).toFixed(1)}%; classes ${(100 * l.classTv).toFixed(1)}% from the ` +
        `real mix (rarest: ${l.rarest.digit}, ${(100 * l.rarest.share).toFixed(1)}%)`,
    );
    rec?.figure(`legibility.${name}`, `${name}: samples read confidently`, 100 * l.share, "%");
    rec?.figure(
      `legibility.${name}.class_tv`,
      `${name}: total variation of the read classes from the real images'`,
      100 * l.classTv,
      "%",
    );
  }
}
