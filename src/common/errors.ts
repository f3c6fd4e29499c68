// User-facing errors: a message that says what was wrong and what to do, printed without a stack trace.

/** An error caused by the user's input or environment, shown as-is by the CLI (exit code 1). */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UserError";
  }
}

/** Throws a UserError unless `cond` holds. */
export function ensure(cond: unknown, message: string): asserts cond {
  if (!cond) throw new UserError(message);
}
