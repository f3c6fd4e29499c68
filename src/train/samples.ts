// Greedy continuations of fixed prompts, printed during base training to eyeball what the model knows
// (the prompts nanochat's base_train uses).
import type { GPT } from "../model/gpt.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";

export const SAMPLE_PROMPTS = [
  "The capital of France is",
  "The chemical symbol of gold is",
  "If yesterday was Friday, then tomorrow will be",
  "The opposite of hot is",
  "The planets of the solar system are:",
  "My favorite color is",
  "If 5*x + 3 = 13, then x is",
];

/** The greedy (argmax) continuation of `prompt` with <|bos|> prepended, `maxTokens` long. */
export async function greedyContinuation(
  model: GPT,
  tok: Tokenizer,
  prompt: string,
  maxTokens = 16,
): Promise<string> {
  const ids = tok.encode(prompt, { prepend: "<|bos|>" });
  const room = model.config.sequenceLen - ids.length;
  const steps = Math.max(0, Math.min(maxTokens, room));
  const cache = model.createKVCache(1, ids.length + steps);
  const greedy = { temperature: 0, topK: 0 };
  const seeds = new BigUint64Array(1);
  try {
    const out: number[] = [];
    let next = (await cache.prefillSample(Int32Array.from(ids), 1, ids.length, greedy, seeds)).tokens;
    for (let i = 0; i < steps; i++) {
      out.push(next[0]);
      if (i + 1 < steps) next = (await cache.decodeSample(next, greedy, seeds)).tokens;
    }
    return tok.decode(out);
  } finally {
    cache.free();
  }
}
