// nanochat's GPT as a TypeScript object over the compute library: a context, a model with its parameter
// and optimizer-state tables, training/eval steps, the optimizer step and KV-cache inference. Inputs are
// validated here first (clear messages), the library checks again. Long calls are nonblocking FFI calls,
// so the event loop stays free; a model (and its caches) accepts one call at a time.
import {
  check,
  compute,
  handleFrom,
  handleSlot,
  NC_CONTEXT_PROFILE,
  type NcParamCounts,
  type NcParamInfo,
  type NcProfile,
  packContextConfig,
  packModelConfig,
  packOptimStep,
  PARAM_INFO_SIZE,
  unpackParamCounts,
  unpackParamInfo,
  unpackProfile,
} from "../../ffi/compute.ts";
import { UserError } from "../common/errors.ts";
import { type GPTConfig, validateConfig } from "./config.ts";
import { destroyHolder, type Holder, live, newHolder, registry } from "./handles.ts";
import { KVCache } from "./kv_cache.ts";

export { KVCache };

export type { NcParamCounts, NcProfile };

/** One row of the parameter table (or of the optimizer-state table). */
export interface ParamInfo {
  /** nanochat state_dict name, e.g. "transformer.h.0.attn.c_q.weight" (or "<param>.exp_avg" for states). */
  name: string;
  /** PyTorch shape (nn.Linear weights are [out, in]). */
  shape: number[];
  numel: number;
  /** Row index in its table. */
  index: number;
  /** NC_GROUP_*: 0 embedding (AdamW), 1 unembedding (AdamW), 2 matrix (Muon). */
  group: number;
  /** The parameter the row belongs to (itself for parameters). */
  paramIndex: number;
}

/** One optimizer step's hyperparameters; the schedules live in the caller. */
export interface OptimStepOptions {
  /** AdamW lr for lm_head. */
  lrUnembed: number;
  /** AdamW lr for transformer.wte. */
  lrEmbed: number;
  /** Muon lr for the transformer.h matrices. */
  lrMatrix: number;
  /** Muon momentum (0.85 -> 0.95 warmup in nanochat). */
  muonMomentum: number;
  /** AdamW beta1, default 0.8. */
  beta1?: number;
  /** AdamW beta2, default 0.95. */
  beta2?: number;
  /** AdamW eps, default 1e-10. */
  eps?: number;
  /** AdamW decoupled weight decay, default 0. */
  weightDecay?: number;
  /** Every gradient is multiplied by this first (clipping), default 1. */
  gradScale?: number;
}

/** Everything the optimizer holds, for an exact checkpoint/resume. */
export interface OptimizerState {
  /** The AdamW step count t. */
  step: number;
  /** One tensor per row of the optimizer-state table, in table order. */
  tensors: Float32Array[];
}

// ---------------------------------------------------------------------------------------------------

/** Options of ComputeContext.create. */
export interface ContextOptions {
  /** Worker threads for long calls; 0 (default) = the OpenMP default. */
  threads?: number;
  /** Seed for device-side randomness (unused on CPU). */
  seed?: number | bigint;
  /** Collect per-phase timings (read with GPT.profile()). */
  profile?: boolean;
}

/** A compute context: the device, its thread pool and error reporting. Models are created on it. */
export class ComputeContext {
  readonly #holder: Holder;

  private constructor(holder: Holder) {
    this.#holder = holder;
    registry.register(this, holder, holder);
  }

  /** Creates a context on the CPU backend. */
  static create(opts: ContextOptions = {}): ComputeContext {
    const threads = opts.threads ?? 0;
    if (!Number.isInteger(threads) || threads < 0) {
      throw new UserError(`threads must be a non-negative integer, got ${threads}`);
    }
    const lib = compute();
    const slot = handleSlot();
    const cfg = packContextConfig({
      numThreads: threads,
      seed: opts.seed ?? 0,
      flags: opts.profile ? NC_CONTEXT_PROFILE : 0,
    });
    check(lib.nc_context_create(cfg, slot), "creating the compute context");
    const ptr = handleFrom(slot, "creating the compute context");
    return new ComputeContext(newHolder(ptr, (p) => compute().nc_context_destroy(p), null));
  }

  /** The raw handle (for the bindings in this module). */
  get handle(): Deno.PointerObject {
    return live(this.#holder, "the compute context");
  }

  /** @internal the lifetime holder, the parent of this context's models. */
  get holder(): Holder {
    return this.#holder;
  }

  /** Destroys the context; every model created on it must have been freed first. Idempotent. */
  destroy(): void {
    const p = this.#holder.ptr;
    if (p === null) return;
    check(compute().nc_context_destroy(p), "destroying the compute context", null);
    this.#holder.ptr = null;
    registry.unregister(this.#holder);
  }
}

/** Options of GPT.create. */
export interface GPTOptions {
  /** Largest B of training/eval calls (sizes the activation buffers). */
  maxBatch: number;
  /** Rotary base, 10000 in nanochat. */
  rotaryBase?: number;
  /** Logit softcap, 15 in nanochat; 0 disables. */
  softcap?: number;
}

/** Parameter and FLOP counts of a config as the library computes them (nothing allocated). */
export function libraryParamCounts(config: GPTConfig): NcParamCounts {
  validateConfig(config);
  const out = new Uint8Array(48);
  check(
    compute().nc_count_params(packModelConfig({ ...config, maxBatch: 1 }), out),
    "counting parameters",
  );
  return unpackParamCounts(out);
}

/** nanochat's GPT (version A) with fp32 master weights, gradients and Muon + AdamW state. */
export class GPT {
  /** The model's shape. */
  readonly config: Readonly<GPTConfig>;
  /** Largest B of training/eval calls. */
  readonly maxBatch: number;
  /** The context the model lives on. */
  readonly context: ComputeContext;
  readonly #holder: Holder;
  readonly #params: ParamInfo[];
  #states: ParamInfo[] | undefined;
  #busy: string | null = null;
  readonly #f32 = new Float32Array(1);
  readonly #f64 = new Float64Array(1);
  readonly #i64 = new BigInt64Array(1);

  private constructor(ctx: ComputeContext, config: GPTConfig, maxBatch: number, holder: Holder) {
    this.context = ctx;
    this.config = Object.freeze({ ...config });
    this.maxBatch = maxBatch;
    this.#holder = holder;
    registry.register(this, holder, holder);
    this.#params = this.#readTable("nc_model_num_params", "nc_model_param_info", "parameter table");
  }

  /** Allocates a model (weights zero: call initWeights or write every parameter before use). */
  static create(ctx: ComputeContext, config: GPTConfig, opts: GPTOptions): GPT {
    validateConfig(config);
    const maxBatch = opts.maxBatch;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) {
      throw new UserError(`maxBatch must be a positive integer, got ${maxBatch}`);
    }
    const lib = compute();
    const slot = handleSlot();
    const cfg = packModelConfig({
      ...config,
      maxBatch,
      rotaryBase: opts.rotaryBase,
      softcap: opts.softcap,
    });
    check(lib.nc_model_create(ctx.handle, cfg, slot), "creating the model", ctx.handle);
    const ptr = handleFrom(slot, "creating the model");
    return new GPT(ctx, config, maxBatch, newHolder(ptr, (p) => compute().nc_model_destroy(p), ctx.holder));
  }

  /** The raw handle. */
  get handle(): Deno.PointerObject {
    return live(this.#holder, "the model");
  }

  /** @internal the lifetime holder, the parent of this model's KV caches. */
  get holder(): Holder {
    return this.#holder;
  }

  /** Frees the model and its KV caches. Idempotent; fails while a call is in flight. */
  free(): void {
    if (this.#holder.ptr === null) return;
    this.#idle("free");
    const status = destroyHolder(this.#holder);
    check(status, "freeing the model", this.context.handle);
    registry.unregister(this.#holder);
  }

  // ---- parameters ---------------------------------------------------------------------------------

  /** The parameter table, in nanochat state_dict order. */
  params(): ParamInfo[] {
    return this.#params.map((p) => ({ ...p, shape: [...p.shape] }));
  }

  /** Total number of parameters. */
  numParams(): number {
    return this.#params.reduce((s, p) => s + p.numel, 0);
  }

  /** Index of a parameter by state_dict name. */
  paramIndex(name: string): number {
    const i = this.#params.findIndex((p) => p.name === name);
    if (i < 0) throw new UserError(`no parameter named ${JSON.stringify(name)}`);
    return i;
  }

  /** A copy of parameter `i` (index or name), row-major fp32. */
  readParam(i: number | string, out?: Float32Array<ArrayBuffer>): Float32Array<ArrayBuffer> {
    const p = this.#param(i);
    const dst = this.#outBuffer(out, p.numel, `parameter ${p.name}`);
    this.#idle("readParam");
    check(
      compute().nc_model_param_read(this.handle, p.index, dst, BigInt(p.numel)),
      `reading ${p.name}`,
      this.context.handle,
    );
    return dst;
  }

  /** Overwrites parameter `i` (index or name) with `data` (numel values). */
  writeParam(i: number | string, data: Float32Array<ArrayBuffer>): void {
    const p = this.#param(i);
    this.#lengthIs(data, p.numel, `data for ${p.name}`);
    this.#idle("writeParam");
    check(
      compute().nc_model_param_write(this.handle, p.index, data, BigInt(p.numel)),
      `writing ${p.name}`,
      this.context.handle,
    );
  }

  /** The accumulated gradient of parameter `i` (zeros before the first backward). */
  readGrad(i: number | string): Float32Array<ArrayBuffer> {
    const p = this.#param(i);
    const dst = new Float32Array(p.numel);
    this.#idle("readGrad");
    check(
      compute().nc_model_grad_read(this.handle, p.index, dst, BigInt(p.numel)),
      `reading the gradient of ${p.name}`,
      this.context.handle,
    );
    return dst;
  }

  /** nanochat's init (documented, reproducible RNG): same seed, same weights. */
  initWeights(seed: number | bigint): void {
    this.#idle("initWeights");
    check(
      compute().nc_model_init_weights(this.handle, BigInt.asUintN(64, BigInt(seed))),
      "initializing weights",
      this.context.handle,
    );
  }

  /** initWeights on a worker thread (seconds for large models). */
  initWeightsAsync(seed: number | bigint): Promise<void> {
    const s = BigInt.asUintN(64, BigInt(seed));
    return this.#run("initializing weights", () => compute().nc_model_init_weights_async(this.handle, s));
  }

  // ---- training and evaluation --------------------------------------------------------------------

  /** Clears the accumulated gradients. */
  zeroGrad(): void {
    this.#idle("zeroGrad");
    check(compute().nc_model_zero_grad(this.handle), "zeroing gradients", this.context.handle);
  }

  /**
   * One micro-batch: returns the mean cross-entropy over targets != -1 (unscaled) and accumulates
   * grad += d(loss * lossScale)/dparams.
   */
  async forwardBackward(
    inputs: Int32Array<ArrayBuffer>,
    targets: Int32Array<ArrayBuffer>,
    B: number,
    T: number,
    lossScale = 1,
  ): Promise<number> {
    this.#checkBatch(inputs, targets, B, T);
    if (!Number.isFinite(lossScale)) throw new UserError(`lossScale must be finite, got ${lossScale}`);
    const out = new Float32Array(1);
    await this.#run(
      "forward/backward",
      () => compute().nc_model_forward_backward(this.handle, inputs, targets, B, T, lossScale, out),
    );
    return out[0];
  }

  /** Per-token cross-entropy [B*T], 0 where the target is -1 (no gradients). */
  async forwardLosses(
    inputs: Int32Array<ArrayBuffer>,
    targets: Int32Array<ArrayBuffer>,
    B: number,
    T: number,
    out?: Float32Array<ArrayBuffer>,
  ): Promise<Float32Array<ArrayBuffer>> {
    this.#checkBatch(inputs, targets, B, T);
    const dst = this.#outBuffer(out, B * T, "losses");
    await this.#run(
      "forward (losses)",
      () => compute().nc_model_forward_losses(this.handle, inputs, targets, B, T, dst),
    );
    return dst;
  }

  /** Softcapped logits [B*T*vocab] (no gradients). */
  async forwardLogits(
    inputs: Int32Array<ArrayBuffer>,
    B: number,
    T: number,
    out?: Float32Array<ArrayBuffer>,
  ): Promise<Float32Array<ArrayBuffer>> {
    this.#checkBatch(inputs, null, B, T);
    const dst = this.#outBuffer(out, B * T * this.config.vocabSize, "logits");
    await this.#run(
      "forward (logits)",
      () => compute().nc_model_forward_logits(this.handle, inputs, B, T, dst),
    );
    return dst;
  }

  /**
   * Per-token cross-entropy [B*T] (0 where the target is -1) and the argmax token id [B*T] of the
   * softcapped logits at every position, without gradients; the [B*T*vocab] logits never cross over.
   */
  async forwardScores(
    inputs: Int32Array<ArrayBuffer>,
    targets: Int32Array<ArrayBuffer>,
    B: number,
    T: number,
  ): Promise<{ losses: Float32Array<ArrayBuffer>; argmax: Int32Array<ArrayBuffer> }> {
    this.#checkBatch(inputs, targets, B, T);
    const losses = new Float32Array(B * T);
    const argmax = new Int32Array(B * T);
    await this.#run(
      "forward (scores)",
      () => compute().nc_model_forward_scores(this.handle, inputs, targets, B, T, losses, argmax),
    );
    return { losses, argmax };
  }

  /** Softcapped logits [B*vocab] of row b at position positions[b] (0 <= p < T), without gradients. */
  async forwardLogitsAt(
    inputs: Int32Array<ArrayBuffer>,
    B: number,
    T: number,
    positions: Int32Array<ArrayBuffer>,
  ): Promise<Float32Array<ArrayBuffer>> {
    this.#checkBatch(inputs, null, B, T);
    if (!(positions instanceof Int32Array)) throw new UserError("positions must be an Int32Array");
    this.#lengthIs(positions, B, "positions (B)");
    const bad = positions.findIndex((p) => p < 0 || p >= T);
    if (bad >= 0) throw new UserError(`positions[${bad}] = ${positions[bad]} must be in [0, T=${T})`);
    const out = new Float32Array(B * this.config.vocabSize);
    await this.#run(
      "forward (logits at positions)",
      () => compute().nc_model_forward_logits_at(this.handle, inputs, B, T, positions, out),
    );
    return out;
  }

  /** L2 norm of all accumulated gradients (for clipping: gradScale = min(1, clip / (norm + 1e-6))). */
  gradNorm(): number {
    this.#idle("gradNorm");
    check(compute().nc_model_grad_norm(this.handle, this.#f64), "gradient norm", this.context.handle);
    return this.#f64[0];
  }

  // ---- optimizer ----------------------------------------------------------------------------------

  /** One Muon + AdamW step with this step's values; gradients are read, not cleared. */
  optimStep(o: OptimStepOptions): Promise<void> {
    const step = {
      lrEmbedding: o.lrEmbed,
      lrUnembedding: o.lrUnembed,
      lrMatrix: o.lrMatrix,
      muonMomentum: o.muonMomentum,
      adamBeta1: o.beta1 ?? 0.8,
      adamBeta2: o.beta2 ?? 0.95,
      adamEps: o.eps ?? 1e-10,
      weightDecay: o.weightDecay ?? 0,
      gradScale: o.gradScale ?? 1,
    };
    for (const [k, v] of Object.entries(step)) {
      if (typeof v !== "number" || !Number.isFinite(v)) {
        return Promise.reject(new UserError(`optimizer step: ${k} must be a finite number, got ${v}`));
      }
    }
    const buf = packOptimStep(step);
    return this.#run("optimizer step", () => compute().nc_model_optim_step(this.handle, buf));
  }

  /** The optimizer-state table: "<param>.exp_avg"/"<param>.exp_avg_sq" (AdamW), "<param>.momentum_buffer" (Muon). */
  optimStates(): ParamInfo[] {
    this.#states ??= this.#readTable(
      "nc_model_optim_num_states",
      "nc_model_optim_state_info",
      "optimizer-state table",
    );
    return this.#states.map((p) => ({ ...p, shape: [...p.shape] }));
  }

  /** A copy of optimizer-state row `i`. */
  readOptimState(i: number): Float32Array<ArrayBuffer> {
    const s = this.#state(i);
    const dst = new Float32Array(s.numel);
    this.#idle("readOptimState");
    check(
      compute().nc_model_optim_state_read(this.handle, i, dst, BigInt(s.numel)),
      `reading ${s.name}`,
      this.context.handle,
    );
    return dst;
  }

  /** Overwrites optimizer-state row `i`. */
  writeOptimState(i: number, data: Float32Array<ArrayBuffer>): void {
    const s = this.#state(i);
    this.#lengthIs(data, s.numel, `data for ${s.name}`);
    this.#idle("writeOptimState");
    check(
      compute().nc_model_optim_state_write(this.handle, i, data, BigInt(s.numel)),
      `writing ${s.name}`,
      this.context.handle,
    );
  }

  /** The AdamW step count t. */
  getOptimStep(): number {
    this.#idle("getOptimStep");
    check(compute().nc_model_optim_get_step(this.handle, this.#i64), "reading the step", this.context.handle);
    return Number(this.#i64[0]);
  }

  /** Sets the AdamW step count t (on resume). */
  setOptimStep(step: number): void {
    if (!Number.isInteger(step) || step < 0) {
      throw new UserError(`optimizer step must be a non-negative integer, got ${step}`);
    }
    this.#idle("setOptimStep");
    check(
      compute().nc_model_optim_set_step(this.handle, BigInt(step)),
      "setting the step",
      this.context.handle,
    );
  }

  /** Every optimizer tensor plus the step count, for a checkpoint. */
  exportOptimizer(): OptimizerState {
    const tensors = this.optimStates().map((s) => this.readOptimState(s.index));
    return { step: this.getOptimStep(), tensors };
  }

  /** Restores what exportOptimizer returned (the next step is then bit-identical). */
  importOptimizer(state: OptimizerState): void {
    const rows = this.optimStates();
    if (state.tensors.length !== rows.length) {
      throw new UserError(
        `optimizer state has ${state.tensors.length} tensors, the model has ${rows.length}`,
      );
    }
    rows.forEach((s, i) => this.writeOptimState(s.index, state.tensors[i] as Float32Array<ArrayBuffer>));
    this.setOptimStep(state.step);
  }

  // ---- inference ----------------------------------------------------------------------------------

  /** A KV cache for `batch` rows of up to `maxLen` positions (maxLen <= 10 * sequenceLen). */
  createKVCache(batch: number, maxLen: number): KVCache {
    for (const [k, v] of [["batch", batch], ["maxLen", maxLen]] as const) {
      if (!Number.isInteger(v) || v < 1) {
        throw new UserError(`KV cache ${k} must be a positive integer, got ${v}`);
      }
    }
    if (maxLen > 10 * this.config.sequenceLen) {
      throw new UserError(
        `KV cache length ${maxLen} exceeds the rotary table (10 x sequence length ${this.config.sequenceLen})`,
      );
    }
    this.#idle("createKVCache");
    const slot = handleSlot();
    check(
      compute().nc_kvcache_create(this.handle, batch, maxLen, slot),
      "creating the KV cache",
      this.context.handle,
    );
    const ptr = handleFrom(slot, "creating the KV cache");
    return new KVCache(
      this,
      batch,
      maxLen,
      newHolder(ptr, (p) => compute().nc_kvcache_destroy(p), this.#holder),
    );
  }

  // ---- profiling ----------------------------------------------------------------------------------

  /** Per-phase timings accumulated since the last reset (zeros unless the context profiles). */
  profile(): NcProfile {
    const out = new Uint8Array(128);
    this.#idle("profile");
    check(compute().nc_model_get_profile(this.handle, out), "reading the profile", this.context.handle);
    return unpackProfile(out);
  }

  /** Clears the profile. */
  resetProfile(): void {
    this.#idle("resetProfile");
    check(compute().nc_model_reset_profile(this.handle), "resetting the profile", this.context.handle);
  }

  // ---- internals shared with KVCache --------------------------------------------------------------

  /** @internal Throws unless no call is in flight. */
  idle(what: string): void {
    this.#idle(what);
  }

  /** @internal Runs one nonblocking call, one at a time per model, and checks its status. */
  run(what: string, call: () => Promise<number>): Promise<void> {
    return this.#run(what, call);
  }

  #idle(what: string): void {
    if (this.#busy !== null) {
      throw new UserError(`${what}: the model is busy with ${this.#busy}; await it first`);
    }
  }

  async #run(what: string, call: () => Promise<number>): Promise<void> {
    this.#idle(what);
    const ctx = this.context.handle;
    this.#busy = what;
    let status: number;
    try {
      status = await call();
    } finally {
      this.#busy = null;
    }
    check(status, what, ctx);
  }

  #checkBatch(inputs: Int32Array, targets: Int32Array | null, B: number, T: number): void {
    const { sequenceLen } = this.config;
    if (!Number.isInteger(B) || B < 1 || B > this.maxBatch) {
      throw new UserError(
        `batch size B=${B} must be an integer in [1, ${this.maxBatch}] (the model's maxBatch)`,
      );
    }
    if (!Number.isInteger(T) || T < 1 || T > sequenceLen) {
      throw new UserError(`sequence length T=${T} must be an integer in [1, ${sequenceLen}] (sequenceLen)`);
    }
    if (!(inputs instanceof Int32Array)) throw new UserError("inputs must be an Int32Array");
    this.#lengthIs(inputs, B * T, "inputs (B*T)");
    if (targets !== null) {
      if (!(targets instanceof Int32Array)) throw new UserError("targets must be an Int32Array");
      this.#lengthIs(targets, B * T, "targets (B*T)");
    }
    // token ranges are left to the library, which checks them before computing anything
  }

  #lengthIs(a: ArrayLike<number>, n: number, what: string): void {
    if (a.length !== n) throw new UserError(`${what}: expected ${n} values, got ${a.length}`);
  }

  #outBuffer(out: Float32Array<ArrayBuffer> | undefined, n: number, what: string): Float32Array<ArrayBuffer> {
    if (out === undefined) return new Float32Array(n);
    this.#lengthIs(out, n, `output buffer for ${what}`);
    return out;
  }

  #param(i: number | string): ParamInfo {
    const index = typeof i === "string" ? this.paramIndex(i) : i;
    const p = this.#params[index];
    if (!Number.isInteger(index) || p === undefined) {
      throw new UserError(`parameter index ${i} is outside [0, ${this.#params.length})`);
    }
    return p;
  }

  #state(i: number): ParamInfo {
    const rows = this.optimStates();
    const s = rows[i];
    if (!Number.isInteger(i) || s === undefined) {
      throw new UserError(`optimizer-state index ${i} is outside [0, ${rows.length})`);
    }
    return s;
  }

  #readTable(
    countFn: "nc_model_num_params" | "nc_model_optim_num_states",
    infoFn: "nc_model_param_info" | "nc_model_optim_state_info",
    what: string,
  ): ParamInfo[] {
    const lib = compute();
    const n = new Int32Array(1);
    check(lib[countFn](this.handle, n), `reading the ${what}`, this.context.handle);
    const buf = new Uint8Array(PARAM_INFO_SIZE);
    const rows: ParamInfo[] = [];
    for (let i = 0; i < n[0]; i++) {
      buf.fill(0);
      check(lib[infoFn](this.handle, i, buf), `reading the ${what}`, this.context.handle);
      const info: NcParamInfo = unpackParamInfo(buf);
      rows.push({
        name: info.name,
        shape: info.shape,
        numel: info.numel,
        index: i,
        group: info.group,
        paramIndex: info.paramIndex,
      });
    }
    return rows;
  }
}
