// A communicator over the ranks of a data-parallel run (one process per device): rank 0 makes an id, the
// launcher hands its 128 bytes to every rank, each creates its communicator from it and attaches it to
// its model (GPT.attachComm), whose gradient norm and optimizer step then reduce over the ranks. Small
// host collectives (sums of metrics, a barrier) are offered for evaluation and logging.
import { checkWith, handleFrom, handleSlot } from "../../ffi/compute.ts";
import { COMM_ID_SIZE, type NcCommOptions, packCommOptions } from "../../ffi/compute_structs.ts";
import { UserError } from "../common/errors.ts";
import { type DistEnv, rendezvous, RENDEZVOUS_TIMEOUT_MS } from "../dist/mod.ts";
import type { ComputeContext } from "./context.ts";
import { type Holder, live, newHolder, own, release } from "./handles.ts";

/** A communicator of one rank among `worldSize`, on one compute context. */
export class Communicator {
  readonly rank: number;
  readonly worldSize: number;
  readonly context: ComputeContext;
  readonly #holder: Holder;

  private constructor(ctx: ComputeContext, rank: number, worldSize: number, holder: Holder) {
    this.context = ctx;
    this.rank = rank;
    this.worldSize = worldSize;
    this.#holder = holder;
    own(this, holder);
  }

  /**
   * A fresh id (rank 0 makes it; every rank then creates its communicator from the same bytes within
   * opts.timeoutMs). opts.advertiseHost: how the other ranks reach rank 0 (MASTER_ADDR).
   */
  static newId(ctx: ComputeContext, opts: NcCommOptions = {}): Uint8Array<ArrayBuffer> {
    const id = new Uint8Array(COMM_ID_SIZE);
    const lib = ctx.lib.symbols;
    checkWith(lib, lib.nc_comm_id_create(packOptions(opts), id), "creating a communicator id", null);
    return id;
  }

  /** This rank's communicator from rank 0's id (opts.transportHost: the address this rank listens on). */
  static create(
    ctx: ComputeContext,
    id: Uint8Array<ArrayBuffer>,
    rank: number,
    worldSize: number,
    opts: NcCommOptions = {},
  ): Communicator {
    if (!(id instanceof Uint8Array) || id.length !== COMM_ID_SIZE) {
      throw new UserError(`a communicator id is ${COMM_ID_SIZE} bytes, got ${id?.length}`);
    }
    if (!Number.isInteger(worldSize) || worldSize < 1) {
      throw new UserError(`world size must be a positive integer, got ${worldSize}`);
    }
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
      throw new UserError(`rank ${rank} must be an integer in [0, ${worldSize})`);
    }
    const lib = ctx.lib.symbols;
    const slot = handleSlot();
    checkWith(
      lib,
      lib.nc_comm_create(ctx.handle, id, rank, worldSize, packOptions(opts), slot),
      "creating the communicator",
      ctx.handle,
    );
    const ptr = handleFrom(slot, "creating the communicator");
    return new Communicator(ctx, rank, worldSize, newHolder(ptr, (p) => lib.nc_comm_destroy(p), ctx));
  }

  /** The raw handle. */
  get handle(): Deno.PointerObject {
    return live(this.#holder, "the communicator");
  }

  /** Sums `values` over the ranks, in place (every rank calls it with the same length). */
  async allReduceSum(values: Float64Array<ArrayBuffer>): Promise<void> {
    const lib = this.context.lib.symbols;
    const status = await lib.nc_comm_allreduce_sum(this.handle, values, BigInt(values.length));
    checkWith(lib, status, "summing over the ranks", this.context.handle);
  }

  /**
   * Every rank's JSON-serializable `value`, in rank order (small values: loader states, flags). Built on
   * the double all-reduce: each rank writes its UTF-8 bytes into its own slot of a zeroed buffer.
   */
  async allGatherJson<T>(value: T): Promise<T[]> {
    const bytes = new TextEncoder().encode(JSON.stringify(value));
    const lengths = new Float64Array(this.worldSize);
    lengths[this.rank] = bytes.length;
    await this.allReduceSum(lengths);
    const width = Math.max(...lengths);
    const slots = new Float64Array(width * this.worldSize);
    slots.set(bytes, this.rank * width);
    await this.allReduceSum(slots);
    const dec = new TextDecoder();
    return Array.from(lengths, (n, r) => {
      const mine = Uint8Array.from(slots.subarray(r * width, r * width + n));
      return JSON.parse(dec.decode(mine)) as T;
    });
  }

  /** Resolves once every rank has called it. */
  async barrier(): Promise<void> {
    const lib = this.context.lib.symbols;
    checkWith(lib, await lib.nc_comm_barrier(this.handle), "waiting for the ranks", this.context.handle);
  }

  /** Destroys the communicator; models attached to it must be freed first. Idempotent. */
  destroy(): void {
    if (this.#holder.ptr === null) return;
    checkWith(this.context.lib.symbols, release(this.#holder, false), "destroying the communicator", null);
  }
}

function packOptions(o: NcCommOptions): Uint8Array<ArrayBuffer> {
  if (o.timeoutMs !== undefined && !(Number.isInteger(o.timeoutMs) && o.timeoutMs >= 0)) {
    throw new UserError(`timeoutMs must be an integer >= 0, got ${o.timeoutMs}`);
  }
  try {
    return packCommOptions(o);
  } catch (err) {
    throw new UserError(`communicator options: ${(err as Error).message}`);
  }
}

/** Environment variable bounding joins and collectives (ms): how long a rank waits for a dead or hung peer. */
export const COMM_TIMEOUT_ENV = "NANOCHAT_COMM_TIMEOUT_MS";

/**
 * This process's communicator in the run `env` describes (from torchrun's, SLURM's or mpirun's
 * variables, or our launcher's), or null for a single process: the ranks meet in the rendezvous at
 * MASTER_ADDR, rank 0 makes the id there, and every rank creates its communicator from it. Joining and
 * every later collective are bounded by NANOCHAT_COMM_TIMEOUT_MS (default 5 minutes), so a dead or hung
 * peer becomes an error instead of a hang.
 */
export async function joinWorld(ctx: ComputeContext, env: DistEnv): Promise<Communicator | null> {
  if (env.worldSize === 1) return null;
  const raw = Deno.env.get(COMM_TIMEOUT_ENV);
  const timeoutMs = raw ? Number(raw) : RENDEZVOUS_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
    throw new UserError(`${COMM_TIMEOUT_ENV} must be a positive integer (milliseconds), got ${raw}`);
  }
  const id = await rendezvous(env, {
    makeId: () => Communicator.newId(ctx, { advertiseHost: env.masterAddr, timeoutMs }),
    timeoutMs,
  });
  return Communicator.create(ctx, Uint8Array.from(id), env.rank, env.worldSize, { timeoutMs });
}
