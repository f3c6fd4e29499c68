// Deno FFI binding of kernels/dist's demo shim (libnanochat_dist_shim.so): make the 128-byte id, join a
// Gloo communicator, all-reduce. Test harness only; the product reaches the communicator through the
// compute library's ABI.
import { fileURLToPath } from "node:url";

const SYMBOLS = {
  ncd_last_error: { parameters: [], result: "pointer" },
  ncd_unique_id: { parameters: ["buffer", "i32", "buffer"], result: "i32" },
  ncd_comm_create: {
    parameters: ["buffer", "i32", "i32", "i32", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  ncd_comm_destroy: { parameters: ["pointer"], result: "i32" },
  ncd_all_reduce: { parameters: ["pointer", "buffer", "i64", "i32"], result: "i32", nonblocking: true },
} as const;

/** The built shim, next to the compute library in kernels/build/. */
export const SHIM_PATH = fileURLToPath(
  new URL("../../kernels/build/libnanochat_dist_shim.so", import.meta.url),
);

export class DistShim {
  #lib = Deno.dlopen(SHIM_PATH, SYMBOLS);

  #check(status: number, what: string): void {
    if (status === 0) return;
    const p = this.#lib.symbols.ncd_last_error();
    const msg = p === null ? "" : new Deno.UnsafePointerView(p).getCString();
    throw new Error(`${what} failed (status ${status}): ${msg}`);
  }

  /** Rank 0: starts the bootstrap store; the id is valid for `validForMs`. */
  uniqueId(advertiseHost: string, validForMs: number): Uint8Array {
    const id = new Uint8Array(128);
    this.#check(this.#lib.symbols.ncd_unique_id(cstr(advertiseHost), validForMs, id), "ncd_unique_id");
    return id;
  }

  async create(
    id: Uint8Array,
    rank: number,
    worldSize: number,
    timeoutMs: number,
  ): Promise<Deno.PointerValue> {
    const out = new BigUint64Array(1);
    this.#check(
      await this.#lib.symbols.ncd_comm_create(id, rank, worldSize, timeoutMs, out),
      "ncd_comm_create",
    );
    return Deno.UnsafePointer.create(out[0]);
  }

  async allReduceSum(comm: Deno.PointerValue, data: Float32Array): Promise<void> {
    this.#check(await this.#lib.symbols.ncd_all_reduce(comm, data, BigInt(data.length), 0), "ncd_all_reduce");
  }

  destroy(comm: Deno.PointerValue): void {
    this.#lib.symbols.ncd_comm_destroy(comm);
  }

  close(): void {
    this.#lib.close();
  }
}

function cstr(s: string): Uint8Array {
  return new TextEncoder().encode(s + "\0");
}
