/**
 * Runs `f` with tfjs's tape paused, even while a gradient is being recorded: what `f` computes
 * is data to the gradient (no backward passes through it). The GPU counterpart of reading a
 * tensor to the host and uploading it again, which is how a copy off the tape was made on the
 * JS-array backends. What `f` returns still belongs to the enclosing tidy scope.
 */
import { engine } from "../patches/eager_backprop.ts";

export function untaped<T>(f: () => T): T {
  const state = engine().state;
  const { gradientDepth, activeTape } = state;
  // At depth 0 tfjs records nothing, and a gradient taken inside f starts a tape of its own
  // (then ends it): the outer one is put back after.
  state.gradientDepth = 0;
  try {
    return f();
  } finally {
    state.gradientDepth = gradientDepth;
    state.activeTape = activeTape;
  }
}
