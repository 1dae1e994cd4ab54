/**
 * FastGAN's "batch norm then GLU" as one op that keeps only its input for backward. Written as
 * tfjs ops (moments, subtract, scale, shift, split, sigmoid, multiply) the pair keeps about five
 * activation-sized tensors from forward to backward; here backward recomputes the normalised
 * input and the gates from the input and the per-channel batch statistics. First-order
 * gradients only (a customGrad): for generators.
 *
 * Forward, per channel c of x [N, H, W, 2C] over the N*H*W positions:
 *   xh = (x - mean) / sqrt(var + eps), u = gamma * xh + beta, out = u[:C] * sigmoid(u[C:]).
 * Backward, from dout: du = [dout * s, dout * a * s * (1 - s)] (a = u[:C], s = sigmoid(u[C:])),
 *   dgamma = sum(du * xh), dbeta = sum(du), g = du * gamma,
 *   dx = (g - mean(g) - xh * mean(g * xh)) / sqrt(var + eps).
 */
import * as tf from "@tensorflow/tfjs";

const AXES = [0, 1, 2];

export function batchNormGlu(
  x: tf.Tensor4D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  eps = 1e-5,
): tf.Tensor4D {
  const c = x.shape[3] / 2;
  if (!Number.isInteger(c)) throw new Error(`batchNormGlu: odd channel count ${x.shape[3]}`);
  /** The normalised input and the GLU's two halves, from x and the batch statistics. */
  const parts = (xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
    tf.tidy(() => {
      const { mean, variance } = tf.moments(xs, AXES);
      const inv = tf.rsqrt(tf.add(variance, eps));
      const xh = tf.mul(tf.sub(xs, mean), inv);
      const [a, gate] = tf.split(tf.add(tf.mul(xh, g), b), [c, c], 3);
      return { inv, xh, a, s: tf.sigmoid(gate) };
    });
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, g, b] = args as tf.Tensor[];
    (args[3] as tf.GradSaveFunc)([xs, g, b]);
    const { a, s } = parts(xs, g, b);
    // Backward frees each activation-sized temporary as soon as it is used: its peak is a few
    // such tensors, not the dozen the formulas name.
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xv, gv, bv] = saved;
      const p = parts(xv, gv, bv);
      const du = tf.tidy(() =>
        tf.concat([
          tf.mul(dy, p.s),
          tf.mul(tf.mul(dy, p.a), tf.mul(p.s, tf.sub(1, p.s))),
        ], 3)
      );
      tf.dispose([p.a, p.s]);
      const dGamma = tf.tidy(() => tf.sum(tf.mul(du, p.xh), AXES));
      const dBeta = tf.sum(du, AXES);
      const gx = tf.mul(du, gv);
      du.dispose();
      const dx = tf.tidy(() => {
        const centred = tf.sub(gx, tf.mean(gx, AXES));
        return tf.mul(tf.sub(centred, tf.mul(p.xh, tf.mean(tf.mul(gx, p.xh), AXES))), p.inv);
      });
      tf.dispose([gx, p.xh, p.inv]);
      return [dx, dGamma, dBeta];
    };
    return { value: tf.mul(a, s), gradFunc };
  });
  return op(x, gamma, beta) as tf.Tensor4D;
}
