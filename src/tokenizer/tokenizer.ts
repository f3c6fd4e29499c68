// The BPE tokenizer as TypeScript sees it: a handle to the Rust library (ffi/bpe) with nanochat's API.
import {
  bpe,
  cbytes,
  check,
  handleFrom,
  outSlot,
  packTexts,
  takeBytes,
  takeU32,
  takeU64,
} from "../../ffi/bpe.ts";
import { UserError } from "../common/errors.ts";
import { SPECIAL_TOKENS, SPLIT_PATTERN } from "./special.ts";

/** A token to add before or after encoded text: an id, or a special token's name. */
export type TokenLike = number | string;

export interface EncodeOptions {
  prepend?: TokenLike;
  append?: TokenLike;
}

export interface TrainOptions {
  /** Total vocabulary size including the special tokens. */
  vocabSize: number;
  /** Split regex; nanochat's by default. */
  pattern?: string;
  /** Texts handed to the library per call (parallel split and count happen per batch). */
  batchSize?: number;
  /** Called with (merges done, merges total) while the merge loop runs. */
  onMergeProgress?: (done: number, total: number) => void;
  /** Called with (texts, bytes) after each ingested batch. */
  onIngest?: (texts: number, bytes: number) => void;
}

const registry = new FinalizationRegistry<Deno.PointerValue>((p) => {
  if (p !== null) bpe().bpe_tokenizer_free(p);
});

const utf8Decoder = new TextDecoder("utf-8"); // invalid sequences become U+FFFD, as tiktoken's "replace"

/** A trained BPE vocabulary plus nanochat's special tokens. */
export class Tokenizer {
  #handle: Deno.PointerObject | null;
  readonly vocabSize: number;
  readonly numRanks: number;
  readonly #specialIds = new Map<string, number>();

  private constructor(handle: Deno.PointerObject) {
    this.#handle = handle;
    registry.register(this, handle, this);
    this.vocabSize = bpe().bpe_vocab_size(handle);
    this.numRanks = bpe().bpe_num_ranks(handle);
  }

  /** Trains a new vocabulary from a stream of documents (nanochat's rustbpe algorithm). */
  static async train(
    texts: AsyncIterable<string> | Iterable<string>,
    options: TrainOptions,
  ): Promise<Tokenizer> {
    const minVocab = 256 + SPECIAL_TOKENS.length;
    if (!Number.isInteger(options.vocabSize) || options.vocabSize < minVocab) {
      throw new UserError(
        `vocab size ${options.vocabSize} is too small: it must be at least ${minVocab} ` +
          `(256 byte tokens + ${SPECIAL_TOKENS.length} special tokens)`,
      );
    }
    if (options.vocabSize > 2 ** 32 - 1) throw new UserError(`vocab size ${options.vocabSize} is too large`);
    const lib = bpe();
    const pattern = cbytes(options.pattern ?? SPLIT_PATTERN);
    const slot = outSlot();
    check(lib.bpe_trainer_new(pattern.buf, pattern.len, slot), "cannot create the BPE trainer");
    const trainer = handleFrom(slot, "bpe_trainer_new");
    try {
      const batchSize = options.batchSize ?? 8192;
      let batch: string[] = [];
      let fedTexts = 0;
      let fedBytes = 0;
      const flush = () => {
        if (batch.length === 0) return;
        const { data, offsets } = packTexts(batch);
        check(lib.bpe_trainer_feed(trainer, data, offsets, BigInt(batch.length)), "cannot ingest text");
        fedTexts += batch.length;
        fedBytes += Number(offsets[batch.length]);
        options.onIngest?.(fedTexts, fedBytes);
        batch = [];
      };
      for await (const text of texts) {
        batch.push(text);
        if (batch.length >= batchSize) flush();
      }
      flush();
      const specials = cbytes(SPECIAL_TOKENS.join("\n"));
      const out = outSlot();
      const pending = lib.bpe_trainer_train(
        trainer,
        options.vocabSize - SPECIAL_TOKENS.length,
        specials.buf,
        specials.len,
        out,
      );
      const report = () => {
        const done = new BigUint64Array(1);
        const total = new BigUint64Array(1);
        lib.bpe_trainer_progress(trainer, done, total);
        options.onMergeProgress?.(Number(done[0]), Number(total[0]));
      };
      const timer = options.onMergeProgress ? setInterval(report, 200) : undefined;
      let status: number;
      try {
        status = await pending;
      } finally {
        if (timer !== undefined) clearInterval(timer);
      }
      if (status === 0) report();
      check(status, "BPE training failed");
      return new Tokenizer(handleFrom(out, "bpe_trainer_train"));
    } finally {
      lib.bpe_trainer_free(trainer);
    }
  }

  /** Loads `tokenizer.tiktoken` + `tokenizer.json` from a directory written by `save`. */
  static load(dir: string): Tokenizer {
    const path = cbytes(dir);
    const slot = outSlot();
    const status = bpe().bpe_tokenizer_load(path.buf, path.len, slot);
    if (status !== 0) {
      const detail = bpe().bpe_last_error();
      const msg = detail === null ? "" : Deno.UnsafePointerView.getCString(detail);
      throw new UserError(
        `cannot load the tokenizer from ${dir}: ${msg}\nTrain one with \`nanochat tokenizer train\`.`,
      );
    }
    return new Tokenizer(handleFrom(slot, "bpe_tokenizer_load"));
  }

  /** Builds a tokenizer from a tiktoken rank file's contents (e.g. GPT-2's), with the given specials. */
  static fromRanks(rankFile: Uint8Array, pattern: string, specials: readonly string[]): Tokenizer {
    const ranks = cbytes(rankFile);
    const pat = cbytes(pattern);
    const sp = cbytes(specials.join("\n"));
    const slot = outSlot();
    check(
      bpe().bpe_tokenizer_from_ranks(ranks.buf, ranks.len, pat.buf, pat.len, sp.buf, sp.len, slot),
      "cannot build a tokenizer from ranks",
    );
    return new Tokenizer(handleFrom(slot, "bpe_tokenizer_from_ranks"));
  }

  /** Writes the vocabulary atomically into `dir`. */
  save(dir: string): void {
    const path = cbytes(dir);
    check(bpe().bpe_tokenizer_save(this.#h(), path.buf, path.len), `cannot save the tokenizer to ${dir}`);
  }

  /** Releases the native handle now instead of at garbage collection. */
  free(): void {
    if (this.#handle !== null) {
      registry.unregister(this);
      bpe().bpe_tokenizer_free(this.#handle);
      this.#handle = null;
    }
  }

  /** The split pattern this vocabulary was trained with. */
  get pattern(): string {
    const ptr = outSlot();
    const len = outSlot();
    check(bpe().bpe_pattern(this.#h(), ptr, len), "cannot read the pattern");
    return utf8Decoder.decode(takeBytes(ptr, len));
  }

  /** The id of `<|bos|>`, which starts every document. */
  get bosId(): number {
    return this.encodeSpecial("<|bos|>");
  }

  /** The id of a special token by name (an error if it is not one). */
  encodeSpecial(name: string): number {
    const cached = this.#specialIds.get(name);
    if (cached !== undefined) return cached;
    const n = cbytes(name);
    const out = new Uint32Array(1);
    check(
      bpe().bpe_special_id(this.#h(), n.buf, n.len, out),
      `unknown special token ${JSON.stringify(name)}`,
    );
    this.#specialIds.set(name, out[0]);
    return out[0];
  }

  /** Token ids of ordinary text: special-token strings inside it are encoded as plain text. */
  encodeRaw(text: string): Uint32Array {
    const t = cbytes(text);
    const ptr = outSlot();
    const len = outSlot();
    check(bpe().bpe_encode(this.#h(), t.buf, t.len, ptr, len), "encode failed");
    return takeU32(ptr, len);
  }

  /** Encodes many documents in parallel; returns all ids and n+1 offsets into them. */
  encodeBatchRaw(texts: readonly string[]): { ids: Uint32Array; offsets: BigUint64Array } {
    const { data, offsets } = packTexts(texts);
    const ptr = outSlot();
    const len = outSlot();
    const offPtr = outSlot();
    check(
      bpe().bpe_encode_batch(this.#h(), data, offsets, BigInt(texts.length), ptr, len, offPtr),
      "batch encode failed",
    );
    const ids = takeU32(ptr, len);
    return { ids, offsets: takeU64(offPtr, texts.length + 1) };
  }

  /** nanochat's encode: one text gives ids, a list gives a list of ids (encoded in parallel). */
  encode(text: string, options?: EncodeOptions): number[];
  encode(texts: readonly string[], options?: EncodeOptions): number[][];
  encode(input: string | readonly string[], options: EncodeOptions = {}): number[] | number[][] {
    const pre = options.prepend === undefined ? undefined : this.#tokenId(options.prepend);
    const post = options.append === undefined ? undefined : this.#tokenId(options.append);
    const wrap = (ids: Uint32Array): number[] => {
      const out = Array.from(ids);
      if (pre !== undefined) out.unshift(pre);
      if (post !== undefined) out.push(post);
      return out;
    };
    if (typeof input === "string") return wrap(this.encodeRaw(input));
    const { ids, offsets } = this.encodeBatchRaw(input);
    const result: number[][] = [];
    for (let i = 0; i < input.length; i++) {
      result.push(wrap(ids.subarray(Number(offsets[i]), Number(offsets[i + 1]))));
    }
    return result;
  }

  /** Raw bytes of a token sequence (special tokens give their names' bytes). */
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    const arr = ids instanceof Uint32Array ? ids : Uint32Array.from(ids as ArrayLike<number>, (v) => {
      if (!Number.isInteger(v) || v < 0 || v >= this.vocabSize) {
        throw new UserError(`invalid token id ${v}: ids must be integers in [0, ${this.vocabSize})`);
      }
      return v;
    });
    const buf = arr.length > 0 ? arr : new Uint32Array(1);
    const ptr = outSlot();
    const len = outSlot();
    check(
      bpe().bpe_decode(this.#h(), buf as Uint32Array<ArrayBuffer>, BigInt(arr.length), ptr, len),
      "decode failed",
    );
    return takeBytes(ptr, len);
  }

  /** Text of a token sequence; bytes that are not valid UTF-8 become U+FFFD. */
  decode(ids: ArrayLike<number>): string {
    return utf8Decoder.decode(this.decodeBytes(ids));
  }

  /** Raw byte length of every token (0 for specials): what bits-per-byte divides by. */
  tokenBytes(): Uint32Array {
    const out = new Uint32Array(this.vocabSize);
    check(bpe().bpe_token_bytes(this.#h(), out, BigInt(out.length)), "token_bytes failed");
    return out;
  }

  #tokenId(t: TokenLike): number {
    if (typeof t === "string") return this.encodeSpecial(t);
    if (!Number.isInteger(t) || t < 0 || t >= this.vocabSize) {
      throw new UserError(`invalid token id ${t}: ids must be integers in [0, ${this.vocabSize})`);
    }
    return t;
  }

  #h(): Deno.PointerObject {
    if (this.#handle === null) throw new Error("this tokenizer was freed");
    return this.#handle;
  }
}
