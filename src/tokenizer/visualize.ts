// Shows how text was tokenized: each token coloured green (trained on, mask 1) or red (mask 0).
import type { Tokenizer } from "./tokenizer.ts";

const GREEN = "\x1b[92m";
const RED = "\x1b[91m";
const RESET = "\x1b[0m";

/** One string with every token in its mask colour, tokens joined by `|`. */
export function visualizeTokenization(
  tok: Tokenizer,
  ids: readonly number[],
  mask?: readonly number[],
  withTokenId = false,
): string {
  return ids.map((id, i) => {
    const text = tok.decode([id]);
    const color = mask === undefined || mask[i] === 1 ? GREEN : RED;
    return `${color}${text}${withTokenId ? `(${id})` : ""}${RESET}`;
  }).join("|");
}
