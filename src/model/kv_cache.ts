// A KV cache of one model for incremental inference: prefill a prompt, then decode token by token, either
// returning logits (evaluation, tests) or choosing the next tokens inside the library (generation: no
// 65,536-float logits row crosses the FFI per token). Created by GPT.createKVCache.
import { packSampling } from "../../ffi/compute_structs.ts";
import { UserError } from "../common/errors.ts";
import type { CallGate } from "./call_gate.ts";
import { type Holder, live, own, release } from "./handles.ts";

/** How the sampling calls choose a token (nanochat.h's rule; greedy at temperature 0). */
export interface SamplingOptions {
  /** >= 0; 0 = argmax. */
  temperature: number;
  /** >= 0; 0 = every token is a candidate. */
  topK: number;
  /** Also return the chosen tokens' log-probabilities (log_softmax of the logits). */
  logprobs?: boolean;
}

/** One token per row, and their log-probabilities when asked for. */
export interface SampledTokens {
  tokens: Int32Array<ArrayBuffer>;
  logprobs: Float32Array<ArrayBuffer> | null;
}

/** What GPT.createKVCache hands a new cache. */
export interface KVCacheInit {
  gate: CallGate;
  /** The model's live handle. */
  model: () => Deno.PointerObject;
  vocabSize: number;
  batch: number;
  maxLen: number;
  holder: Holder;
}

/** A KV cache of one model: `batch` rows sharing one position, up to `maxLen` positions. */
export class KVCache {
  readonly batch: number;
  readonly maxLen: number;
  readonly #gate: CallGate;
  readonly #model: () => Deno.PointerObject;
  readonly #vocab: number;
  readonly #holder: Holder;
  readonly #i32 = new Int32Array(1);

  /** Use GPT.createKVCache. */
  constructor(init: KVCacheInit) {
    this.batch = init.batch;
    this.maxLen = init.maxLen;
    this.#gate = init.gate;
    this.#model = init.model;
    this.#vocab = init.vocabSize;
    this.#holder = init.holder;
    own(this, init.holder);
  }

  /** The raw handle. */
  get handle(): Deno.PointerObject {
    return live(this.#holder, "the KV cache");
  }

  /** The shared position of every row (tokens seen so far). */
  get pos(): number {
    this.#gate.sync("reading the KV cache position", (s) => s.nc_kvcache_pos(this.handle, this.#i32));
    return this.#i32[0];
  }

  /** Empties the cache (position 0). */
  reset(): void {
    this.#gate.sync("resetting the KV cache", (s) => s.nc_kvcache_reset(this.handle));
  }

  /**
   * Copies `src`'s keys/values and position into this cache: row by row when the batches are equal, or
   * src's single row into every row (prefill once, sample several continuations).
   */
  copyFrom(src: KVCache): void {
    if (src.batch !== this.batch && src.batch !== 1) {
      throw new UserError(`cannot copy a KV cache of batch ${src.batch} into one of batch ${this.batch}`);
    }
    src.#gate.idle("copying the KV cache");
    this.#gate.sync("copying the KV cache", (s) => s.nc_kvcache_copy(this.handle, src.handle));
  }

  /** Appends T tokens per row (tokens [B*T], B = batch); returns each row's last logits [B*vocab]. */
  async prefill(tokens: Int32Array<ArrayBuffer>, B: number, T: number): Promise<Float32Array<ArrayBuffer>> {
    this.#checkTokens(tokens, B, T);
    const out = new Float32Array(B * this.#vocab);
    await this.#gate.run("prefill", (s) => s.nc_model_prefill(this.#model(), this.handle, tokens, B, T, out));
    return out;
  }

  /** One token per row (tokens [batch]); returns the logits [batch*vocab]. */
  async decode(tokens: Int32Array<ArrayBuffer>): Promise<Float32Array<ArrayBuffer>> {
    this.#checkTokens(tokens, this.batch, 1);
    const out = new Float32Array(this.batch * this.#vocab);
    await this.#gate.run("decode", (s) => s.nc_model_decode(this.#model(), this.handle, tokens, out));
    return out;
  }

  /** decode on the calling thread (no thread hop; for small models). */
  decodeSync(tokens: Int32Array<ArrayBuffer>): Float32Array<ArrayBuffer> {
    this.#checkTokens(tokens, this.batch, 1);
    const out = new Float32Array(this.batch * this.#vocab);
    this.#gate.sync("decode", (s) => s.nc_model_decode_sync(this.#model(), this.handle, tokens, out));
    return out;
  }

  /**
   * Prefill, then choose each row's next token in the library. seeds [B]: one per row, kept for a whole
   * generation (the library mixes in the position); equal seeds give equal tokens.
   */
  async prefillSample(
    tokens: Int32Array<ArrayBuffer>,
    B: number,
    T: number,
    sampling: SamplingOptions,
    seeds: BigUint64Array<ArrayBuffer>,
  ): Promise<SampledTokens> {
    const { args, out } = this.#sampleCall(tokens, B, T, sampling, seeds);
    await this.#gate.run("prefill", (s) => s.nc_model_prefill_sample(...args));
    return out;
  }

  /** One token per row (tokens [batch]), then the next token of each row chosen in the library. */
  async decodeSample(
    tokens: Int32Array<ArrayBuffer>,
    sampling: SamplingOptions,
    seeds: BigUint64Array<ArrayBuffer>,
  ): Promise<SampledTokens> {
    const { args, out } = this.#sampleCall(tokens, this.batch, 1, sampling, seeds);
    await this.#gate.run("decode", (s) => s.nc_model_prefill_sample(...args));
    return out;
  }

  /** decodeSample on the calling thread. */
  decodeSampleSync(
    tokens: Int32Array<ArrayBuffer>,
    sampling: SamplingOptions,
    seeds: BigUint64Array<ArrayBuffer>,
  ): SampledTokens {
    const { args, out } = this.#sampleCall(tokens, this.batch, 1, sampling, seeds);
    this.#gate.sync("decode", (s) => s.nc_model_prefill_sample_sync(...args));
    return out;
  }

  /** Frees the cache. Idempotent. */
  free(): void {
    if (this.#holder.ptr === null) return;
    this.#gate.sync("freeing the KV cache", () => release(this.#holder));
  }

  // The checked arguments of nc_model_prefill_sample and the buffers it fills.
  #sampleCall(
    tokens: Int32Array<ArrayBuffer>,
    B: number,
    T: number,
    o: SamplingOptions,
    seeds: BigUint64Array<ArrayBuffer>,
  ) {
    this.#checkTokens(tokens, B, T);
    if (!(Number.isFinite(o.temperature) && o.temperature >= 0)) {
      throw new UserError(`temperature must be a number >= 0, got ${o.temperature}`);
    }
    if (!Number.isInteger(o.topK) || o.topK < 0) {
      throw new UserError(`top-k must be an integer >= 0, got ${o.topK}`);
    }
    if (!(seeds instanceof BigUint64Array) || seeds.length !== this.batch) {
      throw new UserError(`seeds: expected a BigUint64Array of ${this.batch} values (one per row)`);
    }
    const out: SampledTokens = {
      tokens: new Int32Array(this.batch),
      logprobs: o.logprobs ? new Float32Array(this.batch) : null,
    };
    const settings = packSampling({ temperature: o.temperature, topK: o.topK });
    const args = [
      this.#model(),
      this.handle,
      tokens,
      B,
      T,
      settings,
      seeds,
      out.tokens,
      out.logprobs,
    ] as const;
    return { args, out };
  }

  #checkTokens(tokens: Int32Array, B: number, T: number): void {
    if (B !== this.batch) throw new UserError(`B=${B} does not match the KV cache's batch ${this.batch}`);
    if (!Number.isInteger(T) || T < 1) throw new UserError(`T=${T} must be a positive integer`);
    if (!(tokens instanceof Int32Array)) throw new UserError("tokens must be an Int32Array");
    if (tokens.length !== B * T) {
      throw new UserError(`tokens: expected ${B * T} values (B*T), got ${tokens.length}`);
    }
  }
}
