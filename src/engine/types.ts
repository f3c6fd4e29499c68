// The engine's public contract, shared by `nanochat chat` and `nanochat serve` (so the server can be
// built and tested against it independently of the sampling code).

/** How to sample one completion. */
export interface GenerateOptions {
  /** 0 = greedy (argmax). */
  temperature: number;
  /** 0 = no top-k filtering. */
  topK: number;
  /** Most tokens to generate (the prompt is not counted). */
  maxTokens: number;
  /** Seed of the sampling RNG; the same seed, prompt and settings give the same text. */
  seed?: number;
  /** Aborting stops generation after the current token. */
  signal?: AbortSignal;
}

/** One streamed piece of a completion: the token and the text it completes (UTF-8 safe, may be ""). */
export interface GeneratedPiece {
  token: number;
  text: string;
  /** 1 when the model chose the token, 0 when the tool forced it (calculator output). */
  mask: 0 | 1;
}

/** Why generation ended. */
export type FinishReason = "stop" | "length" | "aborted";

/** What serving needs of an engine: stream one completion of a rendered prompt. */
export interface ChatEngine {
  /** Vocabulary and chat rendering. */
  readonly tokenizer: import("../tokenizer/tokenizer.ts").Tokenizer;
  /** Streams the completion of `prompt` (token ids ending in <|assistant_start|>); returns why it ended. */
  stream(prompt: number[], options: GenerateOptions): AsyncGenerator<GeneratedPiece, FinishReason>;
}
