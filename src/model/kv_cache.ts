// A KV cache of one model for incremental inference: prefill a prompt, then decode token by token.
import { check, compute } from "../../ffi/compute.ts";
import { UserError } from "../common/errors.ts";
import type { GPT } from "./gpt.ts";
import { destroyHolder, type Holder, live, registry } from "./handles.ts";

/** A KV cache of one model: `batch` rows sharing one position, up to `maxLen` positions. */
export class KVCache {
  /** The model whose keys/values this holds. */
  readonly model: GPT;
  readonly batch: number;
  readonly maxLen: number;
  readonly #holder: Holder;
  readonly #i32 = new Int32Array(1);

  /** @internal use GPT.createKVCache. */
  constructor(model: GPT, batch: number, maxLen: number, holder: Holder) {
    this.model = model;
    this.batch = batch;
    this.maxLen = maxLen;
    this.#holder = holder;
    registry.register(this, holder, holder);
  }

  /** The raw handle. */
  get handle(): Deno.PointerObject {
    return live(this.#holder, "the KV cache");
  }

  /** The shared position of every row (tokens seen so far). */
  get pos(): number {
    this.model.idle("reading the KV cache position");
    check(compute().nc_kvcache_pos(this.handle, this.#i32), "reading the KV cache position", this.#ctx());
    return this.#i32[0];
  }

  /** Empties the cache (position 0). */
  reset(): void {
    this.model.idle("reset");
    check(compute().nc_kvcache_reset(this.handle), "resetting the KV cache", this.#ctx());
  }

  /**
   * Copies `src`'s keys/values and position into this cache: row by row when the batches are equal, or
   * src's single row into every row (prefill once, sample several continuations).
   */
  copyFrom(src: KVCache): void {
    if (src.batch !== this.batch && src.batch !== 1) {
      throw new UserError(`cannot copy a KV cache of batch ${src.batch} into one of batch ${this.batch}`);
    }
    this.model.idle("copyFrom");
    src.model.idle("copyFrom");
    check(compute().nc_kvcache_copy(this.handle, src.handle), "copying the KV cache", this.#ctx());
  }

  /** Appends T tokens per row (tokens [B*T], B = batch); returns each row's last logits [B*vocab]. */
  async prefill(tokens: Int32Array<ArrayBuffer>, B: number, T: number): Promise<Float32Array<ArrayBuffer>> {
    this.#checkTokens(tokens, B, T);
    const out = new Float32Array(B * this.model.config.vocabSize);
    await this.model.run(
      "prefill",
      () => compute().nc_model_prefill(this.model.handle, this.handle, tokens, B, T, out),
    );
    return out;
  }

  /** One token per row (tokens [batch]); returns the logits [batch*vocab]. */
  async decode(tokens: Int32Array<ArrayBuffer>): Promise<Float32Array<ArrayBuffer>> {
    this.#checkTokens(tokens, this.batch, 1);
    const out = new Float32Array(this.batch * this.model.config.vocabSize);
    await this.model.run(
      "decode",
      () => compute().nc_model_decode(this.model.handle, this.handle, tokens, out),
    );
    return out;
  }

  /** decode on the calling thread (no thread hop; for small models). */
  decodeSync(tokens: Int32Array<ArrayBuffer>): Float32Array<ArrayBuffer> {
    this.#checkTokens(tokens, this.batch, 1);
    this.model.idle("decode");
    const out = new Float32Array(this.batch * this.model.config.vocabSize);
    check(compute().nc_model_decode_sync(this.model.handle, this.handle, tokens, out), "decode", this.#ctx());
    return out;
  }

  /** Frees the cache. Idempotent. */
  free(): void {
    if (this.#holder.ptr === null) return;
    this.model.idle("freeing the KV cache");
    check(destroyHolder(this.#holder), "freeing the KV cache", this.#ctx());
    registry.unregister(this.#holder);
  }

  #ctx(): Deno.PointerValue {
    return this.model.context.handle;
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
