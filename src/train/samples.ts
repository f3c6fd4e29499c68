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
  try {
    let logits = await cache.prefill(Int32Array.from(ids), 1, ids.length);
    const out: number[] = [];
    for (let i = 0; i < steps; i++) {
      let best = 0;
      for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
      out.push(best);
      if (i + 1 < steps) logits = await cache.decode(Int32Array.of(best));
    }
    return tok.decode(out);
  } finally {
    cache.free();
  }
}
