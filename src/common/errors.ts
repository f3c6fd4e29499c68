// User-facing errors: a message that says what was wrong and what to do, printed without a stack trace.

/** An error caused by the user's input or environment, shown as-is by the CLI (exit code 1 unless a
 * command documents another: `nanochat gpu-selftest` exits 2 when there is no GPU to test). */
export class UserError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "UserError";
    this.exitCode = exitCode;
  }
}

/** Throws a UserError unless `cond` holds. */
export function ensure(cond: unknown, message: string): asserts cond {
  if (!cond) throw new UserError(message);
}
