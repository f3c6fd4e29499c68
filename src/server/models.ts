// The chat models a server offers (one per stage that has checkpoints: base, mid, sft, rl) and the engines
// of those in memory. A model loads on its first request; at most `maxLoaded` stay in memory, and loading
// another unloads the least recently used one that is idle (no request running or waiting). When every
// loaded model is busy, the request is refused as busy (503) rather than exceeding the bound.
import type { ChatEngine } from "../engine/types.ts";
import { type Worker, WorkerPool } from "./pool.ts";

/** What /v1/models lists about a model. */
export interface ModelInfo {
  /** The id clients send as `model`, e.g. nanochat-sft-d20-765. */
  id: string;
  /** base, mid, sft or rl (an alias for the id). */
  stage: string;
  tag?: string;
  step?: number;
}

/** The engines of a loaded model (one per worker) and how to free them. */
export interface LoadedEngines {
  engines: ChatEngine[];
  close(): void;
}

export interface ModelSpec extends ModelInfo {
  load(): Promise<LoadedEngines>;
}

/** The requested model is not offered (HTTP 404, OpenAI's model_not_found). */
export class ModelNotFoundError extends Error {
  constructor(readonly requested: string, offered: readonly string[]) {
    super(
      `The model \`${requested}\` does not exist on this server; use one of: ${offered.join(", ")} ` +
        `(GET /v1/models lists them)`,
    );
    this.name = "ModelNotFoundError";
  }
}

/** A model failed to load (a corrupt or missing checkpoint...): HTTP 500 with the reason. */
export class ModelLoadError extends Error {
  constructor(id: string, cause: unknown) {
    super(`could not load model ${id}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "ModelLoadError";
  }
}

/** Every loaded model is busy and the bound forbids loading another (HTTP 503). */
export class ModelsBusyError extends Error {
  constructor(maxLoaded: number, id: string) {
    super(
      `the server is busy: ${maxLoaded} model(s) are loaded and in use, so ${id} cannot be loaded now; ` +
        `try again shortly`,
    );
    this.name = "ModelsBusyError";
  }
}

interface Slot {
  pool?: WorkerPool;
  loaded?: LoadedEngines;
  loading?: Promise<WorkerPool>;
  lastUsed: number;
}

export interface ModelCatalogOptions {
  /** The model used when a request names none (or says "nanochat"). Default: the first. */
  defaultId?: string;
  /** Models kept in memory at once (default 2). */
  maxLoaded?: number;
  /** Requests that may wait for a worker of one model (WorkerPool's maxQueue, default 32). */
  maxQueue?: number;
}

export class ModelCatalog {
  readonly defaultId: string;
  readonly maxLoaded: number;
  readonly #maxQueue: number;
  readonly #specs: ModelSpec[];
  readonly #slots = new Map<string, Slot>();
  #clock = 0;

  constructor(specs: ModelSpec[], options: ModelCatalogOptions = {}) {
    if (specs.length === 0) throw new Error("a model catalog needs at least one model");
    this.#specs = specs;
    this.defaultId = options.defaultId ?? specs[0].id;
    if (!specs.some((s) => s.id === this.defaultId)) {
      throw new Error(`no model ${this.defaultId} to default to`);
    }
    this.maxLoaded = options.maxLoaded ?? 2;
    if (!Number.isInteger(this.maxLoaded) || this.maxLoaded < 1) throw new Error("maxLoaded must be >= 1");
    this.#maxQueue = options.maxQueue ?? 32;
    for (const s of specs) this.#slots.set(s.id, { lastUsed: 0 });
  }

  /** A catalog of one model whose engines already run in `pool` (never unloaded). */
  static fromPool(pool: WorkerPool, info: ModelInfo): ModelCatalog {
    const catalog = new ModelCatalog([{ ...info, load: () => Promise.reject(new Error("preloaded")) }]);
    catalog.#slots.set(info.id, { pool, lastUsed: 0 });
    return catalog;
  }

  /** The offered models, with whether each is the default and is in memory now. */
  list(): (ModelInfo & { default: boolean; loaded: boolean })[] {
    return this.#specs.map(({ load: _load, ...info }) => ({
      ...info,
      default: info.id === this.defaultId,
      loaded: this.#slots.get(info.id)?.pool !== undefined,
    }));
  }

  /** The model a request names: its id, its stage ("sft", "nanochat-sft"), or none / "nanochat" (the default). */
  resolve(requested?: string): ModelInfo {
    const name = requested ?? "nanochat";
    const spec = name === "nanochat"
      ? this.#specs.find((s) => s.id === this.defaultId)
      : this.#specs.find((s) => s.id === name || s.stage === name || `nanochat-${s.stage}` === name);
    if (!spec) throw new ModelNotFoundError(name, this.#specs.map((s) => s.id));
    const { load: _load, ...info } = spec;
    return info;
  }

  /** Loads the model now (serve does this for the default model, so startup errors surface at once). */
  async preload(id: string): Promise<WorkerPool> {
    return await this.#poolOf(id);
  }

  /** A worker of model `id`, loading the model first when needed; release it with the returned pool. */
  async acquire(id: string, signal?: AbortSignal): Promise<{ worker: Worker; pool: WorkerPool }> {
    const pool = await this.#poolOf(id);
    // no await between getting the pool and queueing on it: an idle pool cannot be unloaded in between
    const worker = await pool.acquire(signal);
    return { worker, pool };
  }

  /** The loaded pools' stats, per model id. */
  stats(): Record<string, ReturnType<WorkerPool["stats"]>> {
    const out: Record<string, ReturnType<WorkerPool["stats"]>> = {};
    for (const [id, slot] of this.#slots) if (slot.pool) out[id] = slot.pool.stats();
    return out;
  }

  /** Whether the default model is loaded. */
  get ready(): boolean {
    return this.#slots.get(this.defaultId)?.pool !== undefined;
  }

  /** Frees every loaded model. */
  close(): void {
    for (const slot of this.#slots.values()) {
      slot.loaded?.close();
      slot.loaded = slot.pool = undefined;
    }
  }

  #poolOf(id: string): Promise<WorkerPool> {
    const slot = this.#slots.get(id);
    const spec = this.#specs.find((s) => s.id === id);
    if (!slot || !spec) return Promise.reject(new ModelNotFoundError(id, this.#specs.map((s) => s.id)));
    slot.lastUsed = ++this.#clock;
    if (slot.pool) return Promise.resolve(slot.pool);
    if (slot.loading) return slot.loading;
    this.#makeRoom(id);
    slot.loading = spec.load().then((loaded) => {
      slot.loaded = loaded;
      slot.pool = new WorkerPool(loaded.engines, this.#maxQueue);
      return slot.pool;
    }, (err) => {
      throw new ModelLoadError(id, err);
    }).finally(() => {
      slot.loading = undefined;
    });
    return slot.loading;
  }

  /** Unloads idle models (least recently used first) until one more fits; throws when none can go. */
  #makeRoom(id: string): void {
    const resident = () => [...this.#slots.values()].filter((s) => s.pool || s.loading).length;
    while (resident() >= this.maxLoaded) {
      const idle = [...this.#slots.values()]
        .filter((s) => s.pool && !s.loading && s.pool.stats().busy === 0 && s.pool.stats().queued === 0)
        .sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (!idle) throw new ModelsBusyError(this.maxLoaded, id);
      idle.loaded?.close();
      idle.loaded = idle.pool = undefined;
    }
  }
}
