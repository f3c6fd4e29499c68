// The TypeScript tokenizer over the Rust library: training, round trips, specials, errors, save/load.
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { join } from "node:path";
import { EVAL_TEXTS } from "../src/tokenizer/eval_texts.ts";
import { SPECIAL_TOKENS } from "../src/tokenizer/special.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { UserError } from "../src/common/errors.ts";
import { withTempDir } from "./helpers.ts";

// A small but varied corpus (the eval genre samples plus some edge cases), enough for 512 tokens.
const CORPUS = EVAL_TEXTS.map(([, t]) => t).concat([
  "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away!",
  "It's 2025 and we're counting: 1, 12, 123, 1234, 12345 apples.",
  "日本語のテキストも少し含めます。中文也可以。한국어도 조금.",
  "Emoji 🙂🚀 and accents: café, naïve, résumé, Ångström.",
  "def f(x):\n    return x ** 2  # square\n\n\n   trailing   spaces   \r\n",
].flatMap((t) => Array(20).fill(t)));

let shared: Tokenizer | undefined;
async function trained(): Promise<Tokenizer> {
  shared ??= await Tokenizer.train(CORPUS, { vocabSize: 512 });
  return shared;
}

Deno.test("training follows the hand-computed merge order, ties going to the smaller pair", async () => {
  // chunks "abab", " abab", " ab": (a,b)=5 -> 256 "ab"; then (32,256)=2 ties (256,256)=2 and the smaller
  // pair wins -> 257 " ab"; then (256,256)=1 ties (257,256)=1 -> 258 "abab".
  const tok = await Tokenizer.train(["abab abab ab"], { vocabSize: 256 + 3 + SPECIAL_TOKENS.length });
  assertEquals(tok.numRanks, 259);
  assertEquals(tok.decode([256]), "ab");
  assertEquals(tok.decode([257]), " ab");
  assertEquals(tok.decode([258]), "abab");
  assertEquals(tok.encode("abab abab ab"), [258, 257, 256, 257]);
  tok.free();
});

Deno.test("training is deterministic", async () => {
  const a = await Tokenizer.train(CORPUS, { vocabSize: 400 });
  const b = await Tokenizer.train(CORPUS, { vocabSize: 400 });
  const ids = Array.from({ length: 400 - 9 }, (_, i) => i);
  for (const id of ids) assertEquals(a.decodeBytes([id]), b.decodeBytes([id]));
  a.free();
  b.free();
});

Deno.test("decode(encode(x)) == x on hard inputs", async () => {
  const tok = await trained();
  const cases = [
    "plain ASCII text, with punctuation!?",
    "中文字符和日本語のかな",
    "emoji 👩‍👩‍👧‍👦 flags 🇫🇷 and skin tones 👍🏽",
    "combining: e\u0301 a\u0308 \u0915\u094d\u0937",
    " ".repeat(1000) + "\n".repeat(50) + "\t\t \r\n \r\n",
    "digits 0123456789 ٠١٢٣ ⅧⅨ 3.14159e-10",
    "lone surrogate-looking text \\ud800 and replacement \ufffd",
    "",
    "<|bos|> <|user_start|> not special here",
  ];
  for (const text of cases) assertEquals(tok.decode(tok.encode(text)), text, JSON.stringify(text));
});

Deno.test("special-token strings inside ordinary text stay ordinary text", async () => {
  const tok = await trained();
  const ids = tok.encode("<|bos|>hello<|assistant_end|>");
  for (const name of SPECIAL_TOKENS) assert(!ids.includes(tok.encodeSpecial(name)), name);
  assertEquals(tok.decode(ids), "<|bos|>hello<|assistant_end|>");
});

Deno.test("special tokens sit at the top of the vocabulary in nanochat's order", async () => {
  const tok = await trained();
  assertEquals(tok.vocabSize, 512);
  SPECIAL_TOKENS.forEach((name, i) => assertEquals(tok.encodeSpecial(name), 512 - 9 + i));
  assertEquals(tok.bosId, 503);
  assertEquals(tok.decode([tok.bosId]), "<|bos|>");
  assertThrows(() => tok.encodeSpecial("<|nope|>"), UserError);
});

Deno.test("prepend/append and batch encode agree with single encode", async () => {
  const tok = await trained();
  const texts = ["hello world", "", "another one 123"];
  const batch = tok.encode(texts, { prepend: "<|bos|>", append: tok.encodeSpecial("<|assistant_end|>") });
  texts.forEach((t, i) => {
    assertEquals(batch[i], [tok.bosId, ...tok.encode(t), tok.encodeSpecial("<|assistant_end|>")]);
  });
});

Deno.test("token_bytes: specials are 0 and the bytes of a text's tokens sum to its UTF-8 length", async () => {
  const tok = await trained();
  const tb = tok.tokenBytes();
  assertEquals(tb.length, tok.vocabSize);
  for (let i = 0; i < 256; i++) assertEquals(tb[i], 1);
  for (let i = tok.numRanks; i < tok.vocabSize; i++) assertEquals(tb[i], 0);
  for (const text of CORPUS.slice(0, 8)) {
    const sum = tok.encode(text).reduce((a, id) => a + tb[id], 0);
    assertEquals(sum, new TextEncoder().encode(text).length);
  }
});

Deno.test("save and load round-trip the vocabulary exactly", async () => {
  const tok = await trained();
  await withTempDir((dir) => {
    tok.save(dir);
    const loaded = Tokenizer.load(dir);
    assertEquals(loaded.vocabSize, tok.vocabSize);
    assertEquals(loaded.pattern, tok.pattern);
    for (const text of CORPUS.slice(0, 8)) assertEquals(loaded.encode(text), tok.encode(text));
    const rankFile = Deno.readTextFileSync(join(dir, "tokenizer.tiktoken")).trimEnd().split("\n");
    assertEquals(rankFile.length, tok.numRanks);
    assertEquals(rankFile[65], `${btoa("A")} 65`);
    loaded.free();
  });
});

Deno.test("bad inputs give clear errors", async () => {
  await assertRejects(() => Tokenizer.train(CORPUS, { vocabSize: 264 }), UserError, "at least 265");
  await assertRejects(() => Tokenizer.train([], { vocabSize: 300 }), UserError, "no text");
  const tok = await trained();
  assertThrows(() => tok.decode([tok.vocabSize]), UserError, "invalid token id");
  assertThrows(() => tok.decode([-1]), UserError, "invalid token id");
  assertThrows(() => tok.decode([1.5]), UserError, "invalid token id");
  await withTempDir((dir) => {
    assertThrows(() => Tokenizer.load(dir), UserError, "nanochat tokenizer train");
    Deno.writeTextFileSync(join(dir, "tokenizer.tiktoken"), "!!!notbase64 0\n");
    Deno.writeTextFileSync(join(dir, "tokenizer.json"), "{}");
    assertThrows(() => Tokenizer.load(dir), UserError, "cannot load the tokenizer");
  });
});
