// A fixed pool of chat engines (one per model replica) shared by the server's requests.
//
// A request acquires a worker, streams its completion, then releases it. When every worker is busy,
// requests wait in a FIFO queue of at most `maxQueue` entries; past that, `acquire` fails at once with
// QueueFullError (the server answers 503 + Retry-After). A waiting request whose client goes away
// (its AbortSignal fires) leaves the queue.
import type { ChatEngine } from "../engine/types.ts";

/** One model replica and its id (shown to clients as "gpu" in nanochat's protocol). */
export interface Worker {
  readonly id: number;
  readonly engine: ChatEngine;
}

/** The queue of waiting requests is full; try again later. */
export class QueueFullError extends Error {
  constructor(maxQueue: number) {
    super(`the server is busy: all workers are in use and ${maxQueue} requests are already waiting`);
    this.name = "QueueFullError";
  }
}

/** A snapshot of the pool, for /stats. */
export interface PoolStats {
  workers: number;
  busy: number;
  queued: number;
  /** Requests that acquired and released a worker since the pool was created. */
  served: number;
}

interface Waiter {
  resolve: (worker: Worker) => void;
  reject: (err: unknown) => void;
  cleanup: () => void;
}

export class WorkerPool {
  readonly workers: readonly Worker[];
  readonly maxQueue: number;
  #free: Worker[];
  #busy = new Set<Worker>();
  #queue: Waiter[] = [];
  #served = 0;

  constructor(engines: readonly ChatEngine[], maxQueue = 32) {
    if (engines.length === 0) throw new Error("a worker pool needs at least one engine");
    if (!Number.isInteger(maxQueue) || maxQueue < 0) throw new Error("maxQueue must be an integer >= 0");
    this.workers = engines.map((engine, id) => ({ id, engine }));
    this.#free = [...this.workers];
    this.maxQueue = maxQueue;
  }

  /** Gets a free worker, waiting in line if none is; rejects with QueueFullError or the signal's reason. */
  acquire(signal?: AbortSignal): Promise<Worker> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const worker = this.#free.shift();
    if (worker) {
      this.#busy.add(worker);
      return Promise.resolve(worker);
    }
    if (this.#queue.length >= this.maxQueue) return Promise.reject(new QueueFullError(this.maxQueue));
    return new Promise<Worker>((resolve, reject) => {
      const onAbort = () => {
        const i = this.#queue.indexOf(waiter);
        if (i >= 0) this.#queue.splice(i, 1);
        reject(signal!.reason);
      };
      const waiter: Waiter = {
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener("abort", onAbort),
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#queue.push(waiter);
    });
  }

  /** Returns a worker: it goes to the first waiting request, or back to the free list. */
  release(worker: Worker): void {
    if (!this.#busy.delete(worker)) throw new Error(`worker ${worker.id} is not in use`);
    this.#served++;
    const next = this.#queue.shift();
    if (next) {
      next.cleanup();
      this.#busy.add(worker);
      next.resolve(worker);
    } else {
      this.#free.push(worker);
      this.#free.sort((a, b) => a.id - b.id);
    }
  }

  stats(): PoolStats {
    return {
      workers: this.workers.length,
      busy: this.#busy.size,
      queued: this.#queue.length,
      served: this.#served,
    };
  }
}
