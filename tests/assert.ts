/**
 * Minimal assertions (jsr:@std/assert is unreachable here). Same names and messages style as
 * @std/assert, so switching back is an import-map change.
 */
export class AssertionError extends Error {
  override name = "AssertionError";
}

export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new AssertionError(msg);
}

export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  if (!deepEqual(actual, expected)) {
    throw new AssertionError(
      `${msg ? msg + ": " : ""}values are not equal\n  actual:   ${fmt(actual)}\n  expected: ${
        fmt(expected)
      }`,
    );
  }
}

export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  if (deepEqual(actual, expected)) {
    throw new AssertionError(`${msg ? msg + ": " : ""}values are equal: ${fmt(actual)}`);
  }
}

export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance = 1e-7,
  msg?: string,
): void {
  if (!(Math.abs(actual - expected) <= tolerance)) {
    throw new AssertionError(
      `${msg ? msg + ": " : ""}${actual} is not within ${tolerance} of ${expected}`,
    );
  }
}

/** Element-wise |a-b| <= atol + rtol*|b|, reporting the worst element. */
export function assertAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  opts: { rtol?: number; atol?: number; msg?: string } = {},
): void {
  const { rtol = 1e-4, atol = 1e-6, msg } = opts;
  const prefix = msg ? msg + ": " : "";
  if (actual.length !== expected.length) {
    throw new AssertionError(`${prefix}length ${actual.length} != ${expected.length}`);
  }
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    const excess = diff - (atol + rtol * Math.abs(expected[i]));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    throw new AssertionError(
      `${prefix}mismatch at ${worst}: ${actual[worst]} vs ${expected[worst]} ` +
        `(rtol ${rtol}, atol ${atol})`,
    );
  }
}

export async function assertRejects(
  fn: () => Promise<unknown>,
  includes?: string | RegExp,
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    checkMessage(e, includes);
    return e as Error;
  }
  throw new AssertionError("expected the promise to reject");
}

export function assertThrows(fn: () => unknown, includes?: string | RegExp): Error {
  try {
    fn();
  } catch (e) {
    checkMessage(e, includes);
    return e as Error;
  }
  throw new AssertionError("expected the function to throw");
}

function checkMessage(e: unknown, includes?: string | RegExp): void {
  if (includes === undefined) return;
  const message = e instanceof Error ? e.message : String(e);
  const ok = typeof includes === "string" ? message.includes(includes) : includes.test(message);
  if (!ok) {
    throw new AssertionError(`error message "${message}" does not match ${String(includes)}`);
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    const x = a as unknown as ArrayLike<unknown>;
    const y = b as unknown as ArrayLike<unknown>;
    if (x.length !== y.length || a.constructor !== b.constructor) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || !deepEqual(v, b.get(k))) return false;
    return true;
  }
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) {
      return false;
    }
  }
  return true;
}

function fmt(v: unknown): string {
  try {
    return Deno.inspect(v, { depth: 4, iterableLimit: 20 });
  } catch {
    return String(v);
  }
}
