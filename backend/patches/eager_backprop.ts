/**
 * Backprop that frees as it goes. tfjs 4.22's `engine.gradients` keeps every intermediate
 * gradient and every tensor saved for backward alive until the whole backward pass ends, so a
 * training step's peak holds all activations plus all of their gradients. This replacement walks
 * the same tape in the same order with the same kernels (gradients are bit-identical), but after
 * each node frees the tensors it saved and the gradients of its outputs, which no later node
 * reads, and frees at once what nodes off every path to the wanted gradients saved: the peak
 * becomes the activations plus a few gradients.
 *
 * Only the outermost gradient call takes this path. A gradient taken while another is recording
 * (the gradient penalty's inner `tf.grad`) must keep its tape for the outer backward, so it runs
 * tfjs's own code.
 */
import * as tf from "@tensorflow/tfjs";

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}

type Gradients = (
  f: () => tf.Tensor,
  xs: tf.Tensor[],
  dy?: tf.Tensor,
  allowNoGradients?: boolean,
) => { value: tf.Tensor; grads: tf.Tensor[] };

/** The parts of tfjs's Engine this module drives (not in its public types). */
export interface EngineInternals {
  gradients: Gradients;
  tidy<T extends tf.TensorContainer>(name: string, f: () => T): T;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
}

export const engine = () => tf.engine() as unknown as EngineInternals;
/** tfjs's own implementation, kept for nested gradients (and for tests to compare against). */
let stock: Gradients | null = null;
/** The ids of the tensors each running gradient call differentiates with respect to. */
const xsOfRunningCalls: Set<number>[] = [];

/** Installs the freeing backprop on tfjs's engine (idempotent). */
export function installEagerBackprop(): void {
  const e = engine();
  if (stock) return;
  stock = e.gradients.bind(e);
  e.gradients = (f, xs, dy, allowNoGradients = false) => {
    xsOfRunningCalls.push(new Set(xs.map((x) => x.id)));
    try {
      return e.state.gradientDepth > 0
        ? stock!(f, xs, dy, allowNoGradients)
        : eagerGradients(e, f, xs, dy, allowNoGradients);
    } finally {
      xsOfRunningCalls.pop();
    }
  };
}

/**
 * Whether a gradient being recorded may have to flow into `x`: some running gradient call
 * differentiates with respect to it, or a recorded op made it. Without this module installed
 * the first is unknown, so the answer is then yes whenever a tape is recording.
 */
export function mayNeedGradient(x: tf.Tensor): boolean {
  const e = engine();
  if (e.state.gradientDepth === 0) return false;
  if (!stock || xsOfRunningCalls.some((ids) => ids.has(x.id))) return true;
  return (e.state.activeTape ?? []).some((node) => node.outputs.some((o) => o.id === x.id));
}

/** Puts tfjs's own implementation back (tests compare the two). */
export function uninstallEagerBackprop(): void {
  if (!stock) return;
  engine().gradients = stock;
  stock = null;
}

/**
 * The nodes on some path from `xs` to `y`, in tape order, each with its inputs narrowed to those
 * that depend on `xs` (only their gradients are needed).
 */
export function nodesBetween(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set(xs.map((x) => x.id));
  const reachedFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      for (const o of node.outputs) fromX.add(o.id);
      reachedFromX.add(node.id);
    }
  }
  const toY = new Set([y.id]);
  const leadsToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((o) => toY.has(o.id))) {
      for (const t of Object.values(node.inputs)) toY.add(t.id);
      leadsToY.add(node.id);
    }
  }
  return tape.filter((n) => reachedFromX.has(n.id) && leadsToY.has(n.id)).map((n) => ({
    ...n,
    inputs: Object.fromEntries(Object.entries(n.inputs).filter(([, t]) => fromX.has(t.id))),
  }));
}

/** The id the next tensor will get (tfjs numbers tensors in creation order). */
function nextTensorId(e: EngineInternals): number {
  return (e.constructor as unknown as { nextTensorId: number }).nextTensorId;
}

function eagerGradients(
  e: EngineInternals,
  f: () => tf.Tensor,
  xs: tf.Tensor[],
  dy: tf.Tensor | undefined,
  allowNoGradients: boolean,
): { value: tf.Tensor; grads: tf.Tensor[] } {
  if (xs.length === 0) throw new Error("gradients() received an empty list of xs.");
  if (dy != null && dy.dtype !== "float32") {
    throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`);
  }
  const y = e.scopedRun(() => e.startTape(), () => e.endTape(), () => e.tidy("forward", f));
  if (!(y instanceof tf.Tensor)) throw new Error("The result y returned by f() must be a tensor.");
  const fullTape = e.state.activeTape!;
  const tape = nodesBetween(fullTape, xs, y);
  if (!allowNoGradients && tape.length === 0) {
    throw new Error(
      "Cannot compute gradient of y=f(x) with respect to x. Make sure that the f you passed " +
        "encloses all operations that lead from x to y.",
    );
  }
  // What nodes off every x -> y path saved (a frozen feature network under a discriminator
  // step, say) no backward will read: freed before backward starts.
  const onPath = new Set(tape.map((n) => n.id));
  for (const node of fullTape) {
    if (!onPath.has(node.id)) { for (const t of node.saved ?? []) t.dispose(); }
  }
  return e.tidy("backward", () => {
    // The gradient of each tensor id; every entry is a tensor this map alone owns, so it can be
    // freed the moment its producer's gradient has run.
    const grads = new Map<number, tf.Tensor>([[y.id, dy ?? tf.ones(y.shape)]]);
    for (let i = tape.length - 1; i >= 0; i--) backpropNode(e, tape[i], grads, y.id);
    const out = xs.map((x) => grads.get(x.id)!);
    for (const node of fullTape) for (const t of node.saved ?? []) t.dispose();
    e.state.activeTape = null;
    return { value: y, grads: out };
  });
}

function backpropNode(
  e: EngineInternals,
  node: TapeNode,
  grads: Map<number, tf.Tensor>,
  yId: number,
): void {
  if (!node.gradient) {
    throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
  }
  const dys = node.outputs.map((o) => grads.get(o.id) ?? null);
  const inputGrads = node.gradient(dys);
  for (const [name, x] of Object.entries(node.inputs)) {
    if (!(name in inputGrads)) {
      throw new Error(
        `Cannot backprop through input ${name}. Available gradients found: ${
          Object.keys(inputGrads)
        }.`,
      );
    }
    const firstNew = nextTensorId(e);
    let dx = e.tidy(name, inputGrads[name]);
    if (dx.dtype !== "float32") {
      throw new Error(
        `Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have ` +
          `'float32' dtype, but has '${dx.dtype}'`,
      );
    }
    if (!tf.util.arraysEqual(dx.shape, x.shape)) {
      throw new Error(
        `Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has ` +
          `shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`,
      );
    }
    // A gradient function may hand back a tensor that exists elsewhere (its dy, a saved
    // tensor): the map takes its own handle on the same data instead.
    if (dx.id < firstNew) dx = tf.clone(dx);
    const prev = grads.get(x.id);
    if (prev === undefined) {
      grads.set(x.id, dx);
    } else {
      grads.set(x.id, tf.add(prev, dx));
      prev.dispose();
      dx.dispose();
    }
  }
  // Each output was produced by this node only, so its gradient is complete and now used up.
  for (const o of node.outputs) {
    if (o.id === yId) continue;
    grads.get(o.id)?.dispose();
    grads.delete(o.id);
  }
  for (const t of node.saved ?? []) t.dispose();
}
