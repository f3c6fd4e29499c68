// The inference engine: prefill a prompt once, sample one or more continuations token by token with a
// KV cache, and run the calculator tool when the model writes <|python_start|>expr<|python_end|>
// (nanochat's Engine.generate with its per-row tool state machine).
import { UserError } from "../common/errors.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { useCalculator } from "./calculator.ts";
import { Rng, sampleToken } from "./sampling.ts";
import type { ChatEngine, FinishReason, GeneratedPiece, GenerateOptions } from "./types.ts";
import { Utf8StreamDecoder } from "./utf8_stream.ts";

/** Seed used when GenerateOptions.seed is not given (nanochat's default). */
export const DEFAULT_SEED = 42;

/** What the engine needs of a KV cache (src/model/kv_cache.ts KVCache has it). */
export interface EngineCache {
  prefill(tokens: Int32Array<ArrayBuffer>, B: number, T: number): Promise<Float32Array>;
  decode(tokens: Int32Array<ArrayBuffer>): Promise<Float32Array>;
  copyFrom(src: EngineCache): void;
  free(): void;
}

/** What the engine needs of a model (src/model/gpt.ts GPT has it; tests may pass a stub). */
export interface EngineModel {
  readonly config: Readonly<{ vocabSize: number; sequenceLen: number }>;
  createKVCache(batch: number, maxLen: number): EngineCache;
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
    const rng = new Rng(options.seed ?? DEFAULT_SEED);
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
      // prefill once at batch 1, then broadcast the cache to the n rows
      if (signal?.aborted) {
        rows.forEach((r) => r.finish = "aborted");
        return finishes();
      }
      const promptIds = Int32Array.from(prompt);
      let logits: Float32Array;
      let firstFromRow0 = false;
      if (n === 1) {
        cache = this.model.createKVCache(1, cacheLen);
        logits = await cache.prefill(promptIds, 1, prompt.length);
      } else {
        const one = this.model.createKVCache(1, prompt.length);
        try {
          logits = await one.prefill(promptIds, 1, prompt.length);
          cache = this.model.createKVCache(n, cacheLen);
          cache.copyFrom(one);
        } finally {
          one.free();
        }
        firstFromRow0 = true; // every row samples its first token independently from the same logits
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
          let token: number;
          let mask: 0 | 1;
          if (row.forced.length > 0) {
            token = row.forced.shift()!;
            mask = 0;
          } else {
            const off = firstFromRow0 ? 0 : i * V;
            token = sampleToken(logits.subarray(off, off + V), temperature, topK, rng);
            mask = 1;
          }
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
        firstFromRow0 = false;
        yield items;
        if (rows.every((r) => r.done) || step === maxTokens - 1) break;
        if (pos >= cacheLen) break; // the context is full: the remaining rows end with "length"
        logits = await cache.decode(fed);
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
