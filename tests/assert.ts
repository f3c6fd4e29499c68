// The subset of @std/assert our tests use, over node:assert. JSR (home of @std/assert) is unreachable
// from our machines; deno.json maps "@std/assert" here, so moving to JSR is a one-line change.
import nodeAssert from "node:assert/strict";

// deno-lint-ignore no-explicit-any
type ErrorClass = new (...args: any[]) => Error;

/** Asserts that `cond` is truthy. */
export function assert(cond: unknown, message?: string): asserts cond {
  nodeAssert.ok(cond, message);
}

/** Asserts deep, strict equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Asserts that `actual` is within `tolerance` of `expected` (as @std/assert's, default 1e-7). */
export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance = 1e-7,
  message?: string,
): void {
  nodeAssert.ok(
    Math.abs(actual - expected) <= tolerance,
    message ?? `expected ${actual} to be within ${tolerance} of ${expected}`,
  );
}

/** Asserts that `actual` contains `expected`. */
export function assertStringIncludes(actual: string, expected: string, message?: string): void {
  nodeAssert.ok(
    actual.includes(expected),
    message ?? `expected ${JSON.stringify(actual)} to include ${JSON.stringify(expected)}`,
  );
}

/** Asserts that `actual` matches `re`. */
export function assertMatch(actual: string, re: RegExp, message?: string): void {
  nodeAssert.match(actual, re, message);
}

function checkError(err: unknown, type: ErrorClass, includes?: string): Error {
  nodeAssert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
  if (includes !== undefined) {
    nodeAssert.ok(
      (err as Error).message.includes(includes),
      `expected the error message to include ${JSON.stringify(includes)}, got ${
        JSON.stringify((err as Error).message)
      }`,
    );
  }
  return err as Error;
}

/** Asserts that `fn` throws (an instance of `type`, with a message containing `includes`); returns the error. */
export function assertThrows(fn: () => unknown, type: ErrorClass = Error, includes?: string): Error {
  try {
    fn();
  } catch (err) {
    return checkError(err, type, includes);
  }
  throw new nodeAssert.AssertionError({ message: "expected the function to throw" });
}

/** Asserts that `fn` rejects (an instance of `type`, with a message containing `includes`); returns the error. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  type: ErrorClass = Error,
  includes?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    return checkError(err, type, includes);
  }
  throw new nodeAssert.AssertionError({ message: "expected the promise to reject" });
}
