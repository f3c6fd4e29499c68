// The one door through which a model and its KV caches call the compute library: a call at a time
// (the library allows one call per model at once, and a nonblocking call may still be in flight), every
// status checked against the context's last error and turned into a UserError naming what failed.
import { checkWith, type ComputeLibrary } from "../../ffi/compute.ts";
import type { ComputeSymbols } from "../../ffi/compute_symbols.ts";
import { UserError } from "../common/errors.ts";

/** Serializes and checks one model's calls. */
export class CallGate {
  readonly #lib: ComputeLibrary;
  readonly #ctx: () => Deno.PointerValue;
  #busy: string | null = null;

  /** `ctx` gives the context handle whose last error explains a failure. */
  constructor(lib: ComputeLibrary, ctx: () => Deno.PointerValue) {
    this.#lib = lib;
    this.#ctx = ctx;
  }

  /** Throws unless no call is in flight. */
  idle(what: string): void {
    if (this.#busy !== null) {
      throw new UserError(`${what}: the model is busy with ${this.#busy}; await it first`);
    }
  }

  /** A synchronous call: refused while another is in flight; its status checked. */
  sync(what: string, call: (s: ComputeSymbols) => number): void {
    this.idle(what);
    checkWith(this.#lib.symbols, call(this.#lib.symbols), what, this.#ctx());
  }

  /** A nonblocking call (an FFI worker thread runs it): one at a time; its status checked. */
  async run(what: string, call: (s: ComputeSymbols) => Promise<number>): Promise<void> {
    this.idle(what);
    const ctx = this.#ctx();
    this.#busy = what;
    let status: number;
    try {
      status = await call(this.#lib.symbols);
    } finally {
      this.#busy = null;
    }
    checkWith(this.#lib.symbols, status, what, ctx);
  }
}
