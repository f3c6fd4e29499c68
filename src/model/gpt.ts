// nanochat's GPT as a TypeScript object over the compute library: a model on a compute context, its
// parameter and optimizer-state tables, training steps (losses read once per optimizer step), the
// per-token weighted backward, evaluation calls, the optimizer step and KV caches. Inputs are validated
// here first (clear messages), the library checks again. Long calls are nonblocking FFI calls, so the event
// loop stays free; a model (and its caches) accepts one call at a time (CallGate).
import { checkWith, computeLibrary, handleFrom, handleSlot } from "../../ffi/compute.ts";
import {
  type ComputeDtype,
  LOSS_STATS_SIZE,
  type NcLossStats,
  type NcParamCounts,
  type NcProfile,
  packModelConfig,
  PROFILE_SIZE,
  unpackLossStats,
  unpackParamCounts,
  unpackProfile,
} from "../../ffi/compute_structs.ts";
import { UserError } from "../common/errors.ts";
import { CallGate } from "./call_gate.ts";
import type { Communicator } from "./comm.ts";
import { type GPTConfig, validateConfig } from "./config.ts";
import type { ComputeContext } from "./context.ts";
import { type Holder, live, newHolder, own, release } from "./handles.ts";
import { KVCache } from "./kv_cache.ts";
import { type OptimStepOptions, packStep } from "./optim_step.ts";
import { type ParamInfo, readTable } from "./tables.ts";

export type { NcLossStats as LossStats, NcParamCounts, NcProfile, OptimStepOptions, ParamInfo };

/** Everything the optimizer holds, for an exact checkpoint/resume. */
export interface OptimizerState {
  /** The AdamW step count t. */
  step: number;
  /** One tensor per row of the optimizer-state table, in table order. */
  tensors: Float32Array[];
}

/** Options of GPT.create. */
export interface GPTOptions {
  /** Largest B of training/eval calls (sizes the activation buffers). */
  maxBatch: number;
  /** Rotary base, 10000 in nanochat. */
  rotaryBase?: number;
  /** Logit softcap, 15 in nanochat; 0 disables. */
  softcap?: number;
  /** "f32" or "bf16" (bf16 compute with fp32 master weights, CUDA). Default: f32 where the device
   * runs it, else bf16 (the cuda backend runs bf16 only). */
  computeDtype?: ComputeDtype;
}

/** The compute dtype a model gets when none is asked for: f32 where the device has it, else bf16. */
export function defaultComputeDtype(ctx: ComputeContext): ComputeDtype {
  return ctx.device.computeDtypes.includes("f32") ? "f32" : "bf16";
}

/** Parameter and FLOP counts of a config as the library computes them (nothing allocated, no device). */
export function libraryParamCounts(config: GPTConfig): NcParamCounts {
  validateConfig(config);
  const out = new Uint8Array(48);
  const lib = computeLibrary("cpu").symbols;
  checkWith(
    lib,
    lib.nc_count_params(packModelConfig({ ...config, maxBatch: 1 }), out),
    "counting parameters",
    null,
  );
  return unpackParamCounts(out);
}

/** nanochat's GPT (version A) with fp32 master weights, gradients and Muon + AdamW state. */
export class GPT {
  /** The model's shape. */
  readonly config: Readonly<GPTConfig>;
  /** Largest B of training/eval calls. */
  readonly maxBatch: number;
  /** The compute dtype ("bf16" only where the device runs it). */
  readonly computeDtype: ComputeDtype;
  /** The context the model lives on. */
  readonly context: ComputeContext;
  readonly #holder: Holder;
  readonly #gate: CallGate;
  readonly #params: ParamInfo[];
  #states: ParamInfo[] | undefined;
  readonly #f64 = new Float64Array(1);
  readonly #i64 = new BigInt64Array(1);

  private constructor(ctx: ComputeContext, config: GPTConfig, opts: GPTOptions, holder: Holder) {
    this.context = ctx;
    this.config = Object.freeze({ ...config });
    this.maxBatch = opts.maxBatch;
    this.computeDtype = opts.computeDtype ?? defaultComputeDtype(ctx);
    this.#holder = holder;
    own(this, holder);
    this.#gate = new CallGate(ctx.lib, () => ctx.handle);
    this.#params = readTable(this.#gate, this.handle, "params");
  }

  /** Allocates a model (weights zero: call initWeights or write every parameter before use). */
  static create(ctx: ComputeContext, config: GPTConfig, opts: GPTOptions): GPT {
    validateConfig(config);
    const maxBatch = opts.maxBatch;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) {
      throw new UserError(`maxBatch must be a positive integer, got ${maxBatch}`);
    }
    const lib = ctx.lib.symbols;
    const slot = handleSlot();
    const full = { ...opts, computeDtype: opts.computeDtype ?? defaultComputeDtype(ctx) };
    const cfg = packModelConfig({ ...config, ...full, maxBatch });
    checkWith(lib, lib.nc_model_create(ctx.handle, cfg, slot), "creating the model", ctx.handle);
    const ptr = handleFrom(slot, "creating the model");
    return new GPT(ctx, config, full, newHolder(ptr, (p) => lib.nc_model_destroy(p), ctx));
  }

  /** The raw handle. */
  get handle(): Deno.PointerObject {
    return live(this.#holder, "the model");
  }

  /** Frees the model and its KV caches. Idempotent; fails while a call is in flight. */
  free(): void {
    if (this.#holder.ptr === null) return;
    this.#gate.sync("freeing the model", () => release(this.#holder));
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
    const p = this.#row(this.#params, i, "parameter");
    const dst = outBuffer(out, p.numel, `parameter ${p.name}`);
    this.#gate.sync(
      `reading ${p.name}`,
      (s) => s.nc_model_param_read(this.handle, p.index, dst, BigInt(p.numel)),
    );
    return dst;
  }

  /** Overwrites parameter `i` (index or name) with `data` (numel values). */
  writeParam(i: number | string, data: Float32Array<ArrayBuffer>): void {
    const p = this.#row(this.#params, i, "parameter");
    lengthIs(data, p.numel, `data for ${p.name}`);
    this.#gate.sync(
      `writing ${p.name}`,
      (s) => s.nc_model_param_write(this.handle, p.index, data, BigInt(p.numel)),
    );
  }

  /** The accumulated gradient of parameter `i` (zeros before the first backward). */
  readGrad(i: number | string): Float32Array<ArrayBuffer> {
    const p = this.#row(this.#params, i, "parameter");
    const dst = new Float32Array(p.numel);
    this.#gate.sync(
      `reading the gradient of ${p.name}`,
      (s) => s.nc_model_grad_read(this.handle, p.index, dst, BigInt(p.numel)),
    );
    return dst;
  }

  /** nanochat's init (documented, reproducible RNG): same seed, same weights. */
  initWeights(seed: number | bigint): void {
    const s = BigInt.asUintN(64, BigInt(seed));
    this.#gate.sync("initializing weights", (lib) => lib.nc_model_init_weights(this.handle, s));
  }

  /** initWeights on a worker thread (seconds for large models). */
  initWeightsAsync(seed: number | bigint): Promise<void> {
    const s = BigInt.asUintN(64, BigInt(seed));
    return this.#gate.run("initializing weights", (lib) => lib.nc_model_init_weights_async(this.handle, s));
  }

  // ---- training -----------------------------------------------------------------------------------

  /** Clears the accumulated gradients and the loss statistics. */
  zeroGrad(): void {
    this.#gate.sync("zeroing gradients", (s) => s.nc_model_zero_grad(this.handle));
  }

  /**
   * One micro-batch: accumulates grad += d(loss * lossScale)/dparams, where loss is the mean
   * cross-entropy over targets != -1; the loss stays in the library (lossStats, once per step).
   */
  backward(
    inputs: Int32Array<ArrayBuffer>,
    targets: Int32Array<ArrayBuffer>,
    B: number,
    T: number,
    lossScale = 1,
  ): Promise<void> {
    this.#checkBatch(inputs, targets, B, T);
    if (!Number.isFinite(lossScale)) throw new UserError(`lossScale must be finite, got ${lossScale}`);
    return this.#gate.run(
      "forward/backward",
      (s) => s.nc_model_forward_backward(this.handle, inputs, targets, B, T, lossScale),
    );
  }

  /** backward, then this micro-batch's loss (unscaled) from the loss statistics. */
  async forwardBackward(
    inputs: Int32Array<ArrayBuffer>,
    targets: Int32Array<ArrayBuffer>,
    B: number,
    T: number,
    lossScale = 1,
  ): Promise<number> {
    await this.backward(inputs, targets, B, T, lossScale);
    return this.lossStats().lastLoss;
  }

  /**
   * The per-token weighted backward (RL: weights are advantages, any sign): accumulates the gradient of
   * sum(weights[i] * CE_i over targets != -1) / normalizer.
   */
  backwardWeighted(
    inputs: Int32Array<ArrayBuffer>,
    targets: Int32Array<ArrayBuffer>,
    weights: Float32Array<ArrayBuffer>,
    B: number,
    T: number,
    normalizer: number,
  ): Promise<void> {
    this.#checkBatch(inputs, targets, B, T);
    if (!(weights instanceof Float32Array)) throw new UserError("weights must be a Float32Array");
    lengthIs(weights, B * T, "weights (B*T)");
    const bad = weights.findIndex((w) => !Number.isFinite(w));
    if (bad >= 0) throw new UserError(`weights[${bad}] = ${weights[bad]} must be finite`);
    if (!(Number.isFinite(normalizer) && normalizer > 0)) {
      throw new UserError(`normalizer must be a finite number > 0, got ${normalizer}`);
    }
    return this.#gate.run(
      "weighted forward/backward",
      (s) => s.nc_model_forward_backward_weighted(this.handle, inputs, targets, weights, B, T, normalizer),
    );
  }

  /** The losses of the backward calls since the last zeroGrad (lossSum / calls = their mean). */
  lossStats(): NcLossStats {
    const out = new Uint8Array(LOSS_STATS_SIZE);
    this.#gate.sync("reading the loss statistics", (s) => s.nc_model_loss_stats(this.handle, out));
    return unpackLossStats(out);
  }

  /** L2 norm of all accumulated gradients (for clipping: gradScale = min(1, clip / (norm + 1e-6))). */
  gradNorm(): number {
    this.#gate.sync("gradient norm", (s) => s.nc_model_grad_norm(this.handle, this.#f64));
    return this.#f64[0];
  }

  /** Makes gradNorm and optimStep reduce over `comm` (before the first optimizer step), or detaches. */
  attachComm(comm: Communicator | null): void {
    if (comm !== null && comm.context !== this.context) {
      throw new UserError("the communicator was created on another compute context than the model");
    }
    this.#gate.sync(
      "attaching the communicator",
      (s) => s.nc_model_attach_comm(this.handle, comm?.handle ?? null),
    );
  }

  // ---- evaluation ---------------------------------------------------------------------------------

  /** Per-token cross-entropy [B*T], 0 where the target is -1 (no gradients). */
  async forwardLosses(
    inputs: Int32Array<ArrayBuffer>,
    targets: Int32Array<ArrayBuffer>,
    B: number,
    T: number,
    out?: Float32Array<ArrayBuffer>,
  ): Promise<Float32Array<ArrayBuffer>> {
    this.#checkBatch(inputs, targets, B, T);
    const dst = outBuffer(out, B * T, "losses");
    await this.#gate.run(
      "forward (losses)",
      (s) => s.nc_model_forward_losses(this.handle, inputs, targets, B, T, dst),
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
    const dst = outBuffer(out, B * T * this.config.vocabSize, "logits");
    await this.#gate.run(
      "forward (logits)",
      (s) => s.nc_model_forward_logits(this.handle, inputs, B, T, dst),
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
    await this.#gate.run(
      "forward (scores)",
      (s) => s.nc_model_forward_scores(this.handle, inputs, targets, B, T, losses, argmax),
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
    lengthIs(positions, B, "positions (B)");
    const bad = positions.findIndex((p) => p < 0 || p >= T);
    if (bad >= 0) throw new UserError(`positions[${bad}] = ${positions[bad]} must be in [0, T=${T})`);
    const out = new Float32Array(B * this.config.vocabSize);
    await this.#gate.run(
      "forward (logits at positions)",
      (s) => s.nc_model_forward_logits_at(this.handle, inputs, B, T, positions, out),
    );
    return out;
  }

  // ---- optimizer ----------------------------------------------------------------------------------

  /** One Muon + AdamW step with this step's values; gradients are read, not cleared. */
  optimStep(o: OptimStepOptions): Promise<void> {
    let buf: Uint8Array<ArrayBuffer>;
    try {
      buf = packStep(o);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#gate.run("optimizer step", (s) => s.nc_model_optim_step(this.handle, buf));
  }

  /** The optimizer-state table: "<param>.exp_avg"/"<param>.exp_avg_sq" (AdamW), "<param>.momentum_buffer" (Muon). */
  optimStates(): ParamInfo[] {
    this.#states ??= readTable(this.#gate, this.handle, "states");
    return this.#states.map((p) => ({ ...p, shape: [...p.shape] }));
  }

  /** A copy of optimizer-state row `i`. */
  readOptimState(i: number): Float32Array<ArrayBuffer> {
    const s = this.#row(this.optimStates(), i, "optimizer-state");
    const dst = new Float32Array(s.numel);
    this.#gate.sync(
      `reading ${s.name}`,
      (lib) => lib.nc_model_optim_state_read(this.handle, i, dst, BigInt(s.numel)),
    );
    return dst;
  }

  /** Overwrites optimizer-state row `i`. */
  writeOptimState(i: number, data: Float32Array<ArrayBuffer>): void {
    const s = this.#row(this.optimStates(), i, "optimizer-state");
    lengthIs(data, s.numel, `data for ${s.name}`);
    this.#gate.sync(
      `writing ${s.name}`,
      (lib) => lib.nc_model_optim_state_write(this.handle, i, data, BigInt(s.numel)),
    );
  }

  /** The AdamW step count t. */
  getOptimStep(): number {
    this.#gate.sync("reading the step", (s) => s.nc_model_optim_get_step(this.handle, this.#i64));
    return Number(this.#i64[0]);
  }

  /** Sets the AdamW step count t (on resume). */
  setOptimStep(step: number): void {
    if (!Number.isInteger(step) || step < 0) {
      throw new UserError(`optimizer step must be a non-negative integer, got ${step}`);
    }
    this.#gate.sync("setting the step", (s) => s.nc_model_optim_set_step(this.handle, BigInt(step)));
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
    const slot = handleSlot();
    this.#gate.sync("creating the KV cache", (s) => s.nc_kvcache_create(this.handle, batch, maxLen, slot));
    const ptr = handleFrom(slot, "creating the KV cache");
    const lib = this.context.lib.symbols;
    return new KVCache({
      gate: this.#gate,
      model: () => this.handle,
      vocabSize: this.config.vocabSize,
      batch,
      maxLen,
      holder: newHolder(ptr, (p) => lib.nc_kvcache_destroy(p), this),
    });
  }

  // ---- profiling ----------------------------------------------------------------------------------

  /** Per-phase timings accumulated since the last reset (zeros unless the context profiles). */
  profile(): NcProfile {
    const out = new Uint8Array(PROFILE_SIZE);
    this.#gate.sync("reading the profile", (s) => s.nc_model_get_profile(this.handle, out));
    return unpackProfile(out);
  }

  /** Clears the profile. */
  resetProfile(): void {
    this.#gate.sync("resetting the profile", (s) => s.nc_model_reset_profile(this.handle));
  }

  // ---- checks -------------------------------------------------------------------------------------

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
    lengthIs(inputs, B * T, "inputs (B*T)");
    if (targets !== null) {
      if (!(targets instanceof Int32Array)) throw new UserError("targets must be an Int32Array");
      lengthIs(targets, B * T, "targets (B*T)");
    }
    // token ranges are left to the library, which checks them before computing anything
  }

  #row(rows: ParamInfo[], i: number | string, what: string): ParamInfo {
    const index = typeof i === "string" ? this.paramIndex(i) : i;
    const row = rows[index];
    if (!Number.isInteger(index) || row === undefined) {
      throw new UserError(`${what} index ${i} is outside [0, ${rows.length})`);
    }
    return row;
  }
}

function lengthIs(a: ArrayLike<number>, n: number, what: string): void {
  if (a.length !== n) throw new UserError(`${what}: expected ${n} values, got ${a.length}`);
}

function outBuffer(
  out: Float32Array<ArrayBuffer> | undefined,
  n: number,
  what: string,
): Float32Array<ArrayBuffer> {
  if (out === undefined) return new Float32Array(n);
  lengthIs(out, n, `output buffer for ${what}`);
  return out;
}
