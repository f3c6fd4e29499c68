// Compression of our vocabulary against GPT-2's and GPT-4's (as nanochat's tok_eval): bytes per token
// on fixed genre samples and on the first row group of the train and val shards.
import { get_encoding, type TiktokenEncoding } from "tiktoken";
import { UserError } from "../common/errors.ts";
import type { Tokenizer } from "./tokenizer.ts";

export interface CompressionRow {
  name: string;
  bytes: number;
  baselineTokens: number;
  oursTokens: number;
}

export interface Comparison {
  baseline: string;
  rows: CompressionRow[];
}

const BASELINES: ReadonlyArray<readonly [string, TiktokenEncoding]> = [["GPT-2", "gpt2"], [
  "GPT-4",
  "cl100k_base",
]];

/** Counts tokens of every sample under each baseline vocabulary and ours; checks our round trip. */
export function compareCompression(
  tok: Tokenizer,
  samples: ReadonlyArray<readonly [string, string]>,
): Comparison[] {
  const ours = samples.map(([name, text]) => {
    const ids = tok.encodeRaw(text);
    if (tok.decode(ids) !== text) throw new UserError(`round trip failed on the "${name}" sample`);
    return ids.length;
  });
  return BASELINES.map(([label, encoding]) => {
    const enc = get_encoding(encoding);
    try {
      const rows = samples.map(([name, text], i) => ({
        name,
        bytes: new TextEncoder().encode(text).length,
        baselineTokens: enc.encode_ordinary(text).length,
        oursTokens: ours[i],
      }));
      return { baseline: label, rows };
    } finally {
      enc.free();
    }
  });
}

/** One markdown table per baseline: bytes, tokens and bytes/token for both, and our relative token saving. */
export function formatComparison(c: Comparison): string {
  const header = `| Text | Bytes | ${c.baseline} tokens | ${c.baseline} ratio | Ours tokens | Ours ratio | ` +
    `Relative diff % | Better |`;
  const lines = [`Comparison with ${c.baseline}:`, "", header, "|---|---:|---:|---:|---:|---:|---:|---|"];
  for (const r of c.rows) {
    const diff = (r.baselineTokens - r.oursTokens) / r.baselineTokens * 100;
    const better = r.oursTokens < r.baselineTokens
      ? "Ours"
      : r.oursTokens > r.baselineTokens
      ? c.baseline
      : "=";
    lines.push(
      `| ${r.name} | ${r.bytes} | ${r.baselineTokens} | ${(r.bytes / r.baselineTokens).toFixed(2)} | ` +
        `${r.oursTokens} | ${(r.bytes / r.oursTokens).toFixed(2)} | ${diff >= 0 ? "+" : ""}${
          diff.toFixed(1)
        }% | ` +
        `${better} |`,
    );
  }
  return lines.join("\n");
}
