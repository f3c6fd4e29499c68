// Encoding parity with tiktoken (npm): our saved vocabulary loaded into tiktoken must give identical ids
// on megabytes of real text, and so must GPT-2's and GPT-4's vocabularies loaded into our library.
import { assertEquals } from "@std/assert";
import { join } from "node:path";
import { get_encoding, Tiktoken } from "tiktoken";
import gpt2 from "tiktoken/encoders/gpt2.json" with { type: "json" };
import cl100k from "tiktoken/encoders/cl100k_base.json" with { type: "json" };
import { iterRowGroups } from "../src/data/parquet.ts";
import { EVAL_TEXTS } from "../src/tokenizer/eval_texts.ts";
import { SPECIAL_TOKENS } from "../src/tokenizer/special.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { sharedPretrainDir, withTempDir } from "./helpers.ts";

const MAX_CHARS = 3_000_000;

/** Real text: train and val documents from the shared shards, or the eval samples when they are absent. */
async function realText(split: "train" | "val"): Promise<string[]> {
  const dataDir = sharedPretrainDir();
  if (dataDir === null) return Array(50).fill(EVAL_TEXTS.map(([, t]) => t).join("\n"));
  const docs: string[] = [];
  let chars = 0;
  for await (const batch of iterRowGroups(split, { dataDir })) {
    for (const doc of batch.texts) {
      docs.push(doc);
      chars += doc.length;
      if (chars > MAX_CHARS) return docs;
    }
  }
  return docs;
}

/** Finds the first differing position, so a failure shows where the encoders disagree. */
function assertSameIds(ours: ArrayLike<number>, theirs: ArrayLike<number>, what: string): void {
  const n = Math.min(ours.length, theirs.length);
  for (let i = 0; i < n; i++) {
    if (ours[i] !== theirs[i]) {
      throw new Error(`${what}: first difference at token ${i}: ours ${ours[i]}, tiktoken ${theirs[i]}`);
    }
  }
  assertEquals(ours.length, theirs.length, `${what}: token counts differ`);
}

Deno.test("our trained vocabulary encodes exactly as tiktoken does with the same ranks", async () => {
  const train = await realText("train");
  const tok = await Tokenizer.train(train, { vocabSize: 4096 });
  await withTempDir(async (dir) => {
    tok.save(dir);
    const rankFile = await Deno.readTextFile(join(dir, "tokenizer.tiktoken"));
    const specials = Object.fromEntries(SPECIAL_TOKENS.map((s, i) => [s, tok.numRanks + i]));
    const reference = new Tiktoken(rankFile, specials, tok.pattern);
    try {
      for (const [split, docs] of [["train", train], ["val", await realText("val")]] as const) {
        const ours = tok.encodeBatchRaw(docs);
        docs.forEach((doc, i) => {
          const mine = ours.ids.subarray(Number(ours.offsets[i]), Number(ours.offsets[i + 1]));
          assertSameIds(mine, reference.encode_ordinary(doc), `${split} doc ${i}`);
        });
      }
    } finally {
      reference.free();
    }
  });
  tok.free();
});

/** tiktoken's npm package stores ranks as "! <first rank> <base64> <base64> ..."; we take the standard format. */
function standardRankFile(data: { bpe_ranks: string; pat_str: string }): { ranks: string; pattern: string } {
  const lines: string[] = [];
  for (const line of data.bpe_ranks.split("\n")) {
    const [, offset, ...tokens] = line.split(" ");
    tokens.forEach((b64, i) => lines.push(`${b64} ${Number(offset) + i}`));
  }
  return { ranks: lines.join("\n") + "\n", pattern: data.pat_str };
}

for (const [encoding, data] of [["gpt2", gpt2], ["cl100k_base", cl100k]] as const) {
  Deno.test(`${encoding} loaded into our library encodes exactly as tiktoken`, async () => {
    const { ranks, pattern } = standardRankFile(data as unknown as { bpe_ranks: string; pat_str: string });
    const ours = Tokenizer.fromRanks(new TextEncoder().encode(ranks), pattern, []);
    const reference = get_encoding(encoding);
    try {
      const docs = (await realText("val")).concat(EVAL_TEXTS.map(([, t]) => t));
      docs.forEach((doc, i) =>
        assertSameIds(ours.encodeRaw(doc), reference.encode_ordinary(doc), `doc ${i}`)
      );
    } finally {
      reference.free();
      ours.free();
    }
  });
}
