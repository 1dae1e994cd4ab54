/**
 * Frozen computations on data, kept off tfjs's tape. Inside a gradient scope tfjs records every
 * op together with the tensors its gradient would read, whether or not anything differentiated
 * depends on it: a frozen feature network applied to real images under a discriminator step
 * holds all its activations until backward, though no gradient ever passes through it.
 * `offTape(x, f)` runs `f` unrecorded when its input `x` is data (not differentiated with respect
 * to, not made by a recorded op), and recorded as usual otherwise, so a caller need not know
 * which step it runs in.
 */
import type * as tf from "@tensorflow/tfjs";
import { mayNeedGradient } from "../patches/eager_backprop.ts";
import { untaped } from "./untaped.ts";

/**
 * Whether a gradient being recorded may flow into `x`: false for data (what nothing
 * differentiates and no recorded op made), so a custom gradient can skip that input's gradient.
 */
export { mayNeedGradient };

/** `f()` (a function of `x` and of constants only), recorded for backprop only if `x` may need it. */
export function offTape<T>(x: tf.Tensor, f: () => T): T {
  return mayNeedGradient(x) ? f() : untaped(f);
}
