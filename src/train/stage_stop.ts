// Graceful stop for every training stage: the first Ctrl-C (SIGINT) or SIGTERM asks the loop to finish
// its step, save a checkpoint and exit 0; a second one exits at once (130). The loop polls `requested`.

const SIGNALS: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];

export class StopSignal {
  #requested = false;
  readonly #listener = () => {
    if (this.#requested) Deno.exit(130);
    this.#requested = true;
    console.error("\nstop requested: finishing this step, then saving a checkpoint (again to quit now)");
  };

  constructor() {
    for (const s of SIGNALS) Deno.addSignalListener(s, this.#listener);
  }

  /** True once a signal arrived or request() was called. */
  get requested(): boolean {
    return this.#requested;
  }

  /** Asks for a stop from inside the loop (e.g. --stop-after). */
  request(): void {
    this.#requested = true;
  }

  /** Removes the signal listeners (always call it, in a finally). */
  dispose(): void {
    for (const s of SIGNALS) Deno.removeSignalListener(s, this.#listener);
  }
}
