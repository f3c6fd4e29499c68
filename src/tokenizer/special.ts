// nanochat's special tokens (names and order are part of the model format) and its split pattern.

/** The 9 special tokens, in nanochat's order; their ids sit right after the BPE ranks. */
export const SPECIAL_TOKENS = [
  "<|bos|>", // every document starts with this
  "<|user_start|>",
  "<|user_end|>",
  "<|assistant_start|>",
  "<|assistant_end|>",
  "<|python_start|>", // the assistant calls the python calculator tool
  "<|python_end|>",
  "<|output_start|>", // the tool's output comes back
  "<|output_end|>",
] as const;

export type SpecialToken = typeof SPECIAL_TOKENS[number];

/**
 * nanochat's pre-tokenizer split: GPT-4's pattern with \p{N}{1,2} instead of {1,3}
 * (nanochat measured a slightly better val bpb for 1–2 digit groups at small vocab sizes).
 */
export const SPLIT_PATTERN: string = String
  .raw`'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,2}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+`;
