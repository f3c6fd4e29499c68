// The inference engine: prefill a prompt once, sample one or more continuations token by token with a
// KV cache, and run the calculator tool when the model writes <|python_start|>expr<|python_end|>
// (nanochat's Engine.generate with its per-row tool state machine). Tokens are chosen inside the compute
// library (KVCache.prefillSample / decodeSample), so no logits row crosses the FFI per token; each row has
// its own seed, derived from the request's seed, for the whole generation.
import { UserError } from "../common/errors.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { useCalculator } from "./calculator.ts";
import type { ChatEngine, FinishReason, GeneratedPiece, GenerateOptions } from "./types.ts";
import { Utf8StreamDecoder } from "./utf8_stream.ts";

/** Seed used when GenerateOptions.seed is not given (nanochat's default). */
export const DEFAULT_SEED = 42;

/** How the cache chooses tokens (src/model/kv_cache.ts SamplingOptions). */
export interface EngineSampling {
  temperature: number;
  topK: number;
}

/** What the engine needs of a KV cache (src/model/kv_cache.ts KVCache has it). */
export interface EngineCache {
  /** Appends the tokens without choosing a next one (the logits are not needed). */
  prefill(tokens: Int32Array<ArrayBuffer>, B: number, T: number): Promise<unknown>;
  /** Appends the tokens and chooses each row's next token with its seed. */
  prefillSample(
    tokens: Int32Array<ArrayBuffer>,
    B: number,
    T: number,
    sampling: EngineSampling,
    seeds: BigUint64Array<ArrayBuffer>,
  ): Promise<{ tokens: Int32Array }>;
  /** Feeds one token per row and chooses each row's next token. */
  decodeSample(
    tokens: Int32Array<ArrayBuffer>,
    sampling: EngineSampling,
    seeds: BigUint64Array<ArrayBuffer>,
  ): Promise<{ tokens: Int32Array }>;
  copyFrom(src: EngineCache): void;
  free(): void;
}

/** What the engine needs of a model (src/model/gpt.ts GPT has it; tests may pass a stub). */
export interface EngineModel {
  readonly config: Readonly<{ vocabSize: number; sequenceLen: number }>;
  createKVCache(batch: number, maxLen: number): EngineCache;
}

/** The seeds of n rows for a request's seed: row 0 uses the seed itself, so one sample = row 0 of many. */
export function rowSeeds(seed: number, n: number): BigUint64Array<ArrayBuffer> {
  const base = BigInt.asUintN(64, BigInt(Math.trunc(seed)));
  return BigUint64Array.from(
    { length: n },
    (_, i) => BigInt.asUintN(64, base + BigInt(i) * 0x9e3779b97f4a7c15n),
  );
}

/** Options of Engine.generate: GenerateOptions plus how many rows to sample. */
export interface BatchOptions extends GenerateOptions {
  /** Independent samples of the same prompt (the prompt is prefilled once). Default 1. */
  numSamples?: number;
}

/** One generated row: tokens after the prompt (terminal token excluded), their masks, why it ended. */
export interface GeneratedRow {
  tokens: number[];
  /** 1 = sampled by the model, 0 = forced by the calculator tool. */
  masks: (0 | 1)[];
  finish: FinishReason;
}

/** One step's token of one row (null once the row has finished). */
type StepItem = { token: number; mask: 0 | 1 } | null;

interface RowState {
  forced: number[];
  inPython: boolean;
  python: number[];
  done: boolean;
  finish: FinishReason;
}

interface Specials {
  bos: number;
  assistantEnd: number;
  pythonStart: number;
  pythonEnd: number;
  outputStart: number;
  outputEnd: number;
}

/** nanochat's Engine over one model and its tokenizer. */
export class Engine implements ChatEngine {
  readonly model: EngineModel;
  readonly tokenizer: Tokenizer;
  readonly #special: Specials;

  constructor(model: EngineModel, tokenizer: Tokenizer) {
    if (tokenizer.vocabSize !== model.config.vocabSize) {
      throw new UserError(
        `the tokenizer has ${tokenizer.vocabSize} tokens but the model expects ${model.config.vocabSize}`,
      );
    }
    this.model = model;
    this.tokenizer = tokenizer;
    const s = (name: string) => tokenizer.encodeSpecial(name);
    this.#special = {
      bos: s("<|bos|>"),
      assistantEnd: s("<|assistant_end|>"),
      pythonStart: s("<|python_start|>"),
      pythonEnd: s("<|python_end|>"),
      outputStart: s("<|output_start|>"),
      outputEnd: s("<|output_end|>"),
    };
  }

  /** Samples `numSamples` completions of `prompt` together; returns each row's tokens, masks and finish. */
  async generate(prompt: number[], options: BatchOptions): Promise<GeneratedRow[]> {
    const n = options.numSamples ?? 1;
    const rows: GeneratedRow[] = Array.from(
      { length: n },
      () => ({ tokens: [], masks: [], finish: "length" }),
    );
    const steps = this.#steps(prompt, n, options);
    for (;;) {
      const r = await steps.next();
      if (r.done) {
        r.value.forEach((f, i) => rows[i].finish = f);
        return rows;
      }
      r.value.forEach((item, i) => {
        if (item) {
          rows[i].tokens.push(item.token);
          rows[i].masks.push(item.mask);
        }
      });
    }
  }

  /** Streams one completion of `prompt` (UTF-8 safe text per token); returns why it ended. */
  async *stream(prompt: number[], options: GenerateOptions): AsyncGenerator<GeneratedPiece, FinishReason> {
    const decoder = new Utf8StreamDecoder();
    let held: GeneratedPiece | null = null;
    const steps = this.#steps(prompt, 1, options);
    try {
      for (;;) {
        const r = await steps.next();
        if (r.done) {
          if (held) {
            held.text += decoder.flush();
            yield held;
          }
          return r.value[0];
        }
        const item = r.value[0];
        if (!item) continue;
        const text = decoder.push(this.tokenizer.decodeBytes([item.token]));
        const piece: GeneratedPiece = { token: item.token, text, mask: item.mask };
        if (held) {
          yield held;
          held = null;
        }
        // a piece ending inside a character waits, so that a final flush still has a piece to join
        if (decoder.pending > 0) held = piece;
        else yield piece;
      }
    } finally {
      await steps.return([]);
    }
  }

  /** The generation loop: yields one item per row per step; returns each row's finish reason. */
  async *#steps(
    prompt: number[],
    n: number,
    options: GenerateOptions,
  ): AsyncGenerator<StepItem[], FinishReason[]> {
    const { temperature, topK, maxTokens, signal } = options;
    const V = this.model.config.vocabSize;
    const seqLen = this.model.config.sequenceLen;
    checkOptions(n, options);
    if (!Array.isArray(prompt) || prompt.length === 0) {
      throw new UserError("the prompt must hold at least one token");
    }
    for (const t of prompt) {
      if (!Number.isInteger(t) || t < 0 || t >= V) throw new UserError(`invalid token id ${t} in the prompt`);
    }
    if (prompt.length >= seqLen) {
      throw new UserError(
        `the prompt has ${prompt.length} tokens and fills the model's context of ${seqLen}: shorten it`,
      );
    }
    const sp = this.#special;
    const sampling = { temperature, topK };
    const seeds = rowSeeds(options.seed ?? DEFAULT_SEED, n);
    const rows: RowState[] = Array.from({ length: n }, () => ({
      forced: [],
      inPython: false,
      python: [],
      done: false,
      finish: "length",
    }));
    const finishes = () => rows.map((r) => r.finish);
    if (maxTokens === 0) return finishes();
    const cacheLen = Math.min(prompt.length + maxTokens, seqLen);
    let cache: EngineCache | null = null;
    try {
      if (signal?.aborted) {
        rows.forEach((r) => r.finish = "aborted");
        return finishes();
      }
      const promptIds = Int32Array.from(prompt);
      let next: Int32Array;
      if (n === 1) {
        cache = this.model.createKVCache(1, cacheLen);
        next = (await cache.prefillSample(promptIds, 1, prompt.length, sampling, seeds)).tokens;
      } else {
        // prefill all but the last prompt token once at batch 1, broadcast it to the n rows, then feed the
        // last token to every row: each row draws its first token with its own seed
        cache = this.model.createKVCache(n, cacheLen);
        if (prompt.length > 1) {
          const one = this.model.createKVCache(1, prompt.length - 1);
          try {
            await one.prefill(promptIds.subarray(0, prompt.length - 1), 1, prompt.length - 1);
            cache.copyFrom(one);
          } finally {
            one.free();
          }
        }
        const last = new Int32Array(n).fill(prompt[prompt.length - 1]);
        next = (await cache.decodeSample(last, sampling, seeds)).tokens;
      }
      let pos = prompt.length;
      const fed = new Int32Array(n);
      for (let step = 0; step < maxTokens; step++) {
        if (signal?.aborted) {
          for (const r of rows) if (!r.done) r.finish = "aborted";
          return finishes();
        }
        const items: StepItem[] = [];
        for (let i = 0; i < n; i++) {
          const row = rows[i];
          if (row.done) {
            items.push(null);
            fed[i] = sp.assistantEnd;
            continue;
          }
          const forced = row.forced.length > 0;
          const token = forced ? row.forced.shift()! : next[i];
          const mask: 0 | 1 = forced ? 0 : 1;
          fed[i] = token;
          if (token === sp.assistantEnd || token === sp.bos) {
            row.done = true;
            row.finish = "stop";
            items.push(null);
            continue;
          }
          this.#advanceTool(row, token);
          items.push({ token, mask });
        }
        yield items;
        if (rows.every((r) => r.done) || step === maxTokens - 1) break;
        if (pos >= cacheLen) break; // the context is full: the remaining rows end with "length"
        next = (await cache.decodeSample(fed, sampling, seeds)).tokens;
        pos++;
      }
      return finishes();
    } finally {
      cache?.free();
    }
  }

  /** nanochat's RowState: collect python tokens; on <|python_end|> queue the calculator's output. */
  #advanceTool(row: RowState, token: number): void {
    const sp = this.#special;
    if (token === sp.pythonStart) {
      row.inPython = true;
      row.python = [];
    } else if (token === sp.pythonEnd && row.inPython) {
      row.inPython = false;
      const result = useCalculator(this.tokenizer.decode(row.python));
      if (result !== null) {
        row.forced.push(sp.outputStart, ...this.tokenizer.encode(result), sp.outputEnd);
      }
      row.python = [];
    } else if (row.inPython) {
      row.python.push(token);
    }
  }
}

function checkOptions(n: number, o: GenerateOptions): void {
  if (!Number.isInteger(n) || n < 1) throw new UserError(`numSamples must be a positive integer, got ${n}`);
  if (!(Number.isFinite(o.temperature) && o.temperature >= 0)) {
    throw new UserError(`temperature must be a number >= 0, got ${o.temperature}`);
  }
  if (!Number.isInteger(o.topK) || o.topK < 0) {
    throw new UserError(`top-k must be an integer >= 0, got ${o.topK}`);
  }
  if (!Number.isInteger(o.maxTokens) || o.maxTokens < 0) {
    throw new UserError(`max tokens must be an integer >= 0, got ${o.maxTokens}`);
  }
  if (o.seed !== undefined && !Number.isFinite(o.seed)) {
    throw new UserError(`seed must be a number, got ${o.seed}`);
  }
}
