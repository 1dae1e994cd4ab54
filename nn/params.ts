/**
 * Named trainable parameters. Models are plain functions of a `Params` and their inputs
 * (nanoGPT style): no layer classes, so weights are easy to save, average (EMA), prune and
 * compare. Initial values come from our seeded Rng, so they are identical on every backend.
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "./rng.ts";
import type { NamedArray } from "./tensor_file.ts";

export type Init =
  | { kind: "normal"; std: number }
  | { kind: "uniform"; limit: number }
  | { kind: "const"; value: number };

let instances = 0;

export class Params {
  readonly vars = new Map<string, tf.Variable>();
  /** tfjs variable names are global: each store gets its own namespace. */
  readonly scope = `p${++instances}`;

  constructor(readonly rng: Rng, readonly trainable = true) {}

  /** The parameter name of one of our variables (gradients are keyed by tfjs names). */
  nameOf(v: tf.Variable): string {
    return v.name.slice(this.scope.length + 1);
  }

  /** Returns the variable `name`, creating it with `init` on first use. */
  get(name: string, shape: number[], init: Init): tf.Variable {
    const existing = this.vars.get(name);
    if (existing) {
      if (!sameShape(existing.shape, shape)) {
        throw new Error(`param ${name}: shape [${existing.shape}] requested as [${shape}]`);
      }
      return existing;
    }
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (init.kind === "normal") data = this.rng.normalArray(n, init.std);
    else if (init.kind === "uniform") data = this.rng.uniformArray(n, -init.limit, init.limit);
    else data = new Float32Array(n).fill(init.value);
    const v = tf.variable(tf.tensor(data, shape), this.trainable, `${this.scope}/${name}`);
    this.vars.set(name, v);
    return v;
  }

  has(name: string): boolean {
    return this.vars.has(name);
  }

  names(): string[] {
    return [...this.vars.keys()].sort();
  }

  list(): tf.Variable[] {
    return this.names().map((n) => this.vars.get(n)!);
  }

  count(): number {
    let total = 0;
    for (const v of this.vars.values()) total += v.size;
    return total;
  }

  /** Copies the current values out (for checkpoints and EMA snapshots). */
  toArrays(prefix = ""): Record<string, NamedArray> {
    const out: Record<string, NamedArray> = {};
    for (const name of this.names()) {
      const v = this.vars.get(name)!;
      out[prefix + name] = { shape: [...v.shape], data: v.dataSync() as Float32Array };
    }
    return out;
  }

  /**
   * Loads values saved by toArrays. Missing variables are created; a shape mismatch is an
   * error that names the parameter, so a checkpoint from another architecture never half-loads.
   */
  loadArrays(arrays: Record<string, NamedArray>, prefix = ""): void {
    for (const [key, arr] of Object.entries(arrays)) {
      if (!key.startsWith(prefix)) continue;
      const name = key.slice(prefix.length);
      const existing = this.vars.get(name);
      if (existing && !sameShape(existing.shape, arr.shape)) {
        throw new Error(`param ${name}: saved shape [${arr.shape}] != model [${existing.shape}]`);
      }
      const t = tf.tensor(arr.data, arr.shape);
      if (existing) {
        existing.assign(t);
        t.dispose();
      } else {
        this.vars.set(name, tf.variable(t, this.trainable, `${this.scope}/${name}`));
        t.dispose();
      }
    }
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
