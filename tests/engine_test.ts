// The inference engine: batched vs sequential greedy decoding, seeding, limits, independent first
// tokens, the calculator tool state machine (driven by a stub model), streaming and UTF-8 safety.
import { assert, assertEquals, assertRejects } from "@std/assert";
import { UserError } from "../src/common/errors.ts";
import { Engine, type EngineCache, type EngineModel } from "../src/engine/engine.ts";
import { argmax, Rng, sampleToken, topKIndices } from "../src/engine/sampling.ts";
import type { GeneratedPiece } from "../src/engine/types.ts";
import { Utf8StreamDecoder } from "../src/engine/utf8_stream.ts";
import { ComputeContext, GPT } from "../src/model/gpt.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { EVAL_TEXTS } from "../src/tokenizer/eval_texts.ts";

const tok = await Tokenizer.train(EVAL_TEXTS.map(([, t]) => t), { vocabSize: 320 });
const V = tok.vocabSize;
const sp = (name: string) => tok.encodeSpecial(name);

async function withModel(fn: (engine: Engine, model: GPT) => Promise<void>, seqLen = 64): Promise<void> {
  const ctx = ComputeContext.create({ threads: 2 });
  const model = GPT.create(ctx, {
    nEmbd: 64,
    nHead: 2,
    nKvHead: 2,
    nLayer: 2,
    sequenceLen: seqLen,
    vocabSize: V,
  }, {
    maxBatch: 1,
  });
  try {
    model.initWeights(1234);
    // nanochat zero-initializes the output projections (all logits equal): give every parameter random
    // values so that greedy decoding has something to choose
    const rng = new Rng(99);
    for (const p of model.params()) {
      model.writeParam(p.index, Float32Array.from({ length: p.numel }, () => (rng.next() - 0.5) * 0.4));
    }
    await fn(new Engine(model, tok), model);
  } finally {
    model.free();
    ctx.destroy();
  }
}

const PROMPT = [
  sp("<|bos|>"),
  sp("<|user_start|>"),
  ...tok.encode("The quick brown fox"),
  sp("<|user_end|>"),
  sp("<|assistant_start|>"),
];

/**
 * A stub model whose next token depends only on the last token fed (a bigram table), so tests can
 * script what it "writes". It records the tokens fed to it per row.
 */
class StubModel implements EngineModel {
  readonly config: { vocabSize: number; sequenceLen: number };
  readonly fed: number[][] = [];
  constructor(readonly next: Map<number, number>, readonly fallback: number, sequenceLen = 64) {
    this.config = { vocabSize: V, sequenceLen };
  }
  createKVCache(batch: number, maxLen: number): EngineCache & { pos: number } {
    const { next, fallback, fed } = this;
    const logitsFor = (lastTokens: number[]) => {
      const out = new Float32Array(lastTokens.length * V);
      lastTokens.forEach((t, i) => out[i * V + (next.get(t) ?? fallback)] = 10);
      return out;
    };
    const cache = {
      pos: 0,
      prefill(tokens: Int32Array, B: number, T: number) {
        cache.pos += T;
        if (B !== batch || cache.pos > maxLen) throw new Error("stub cache misuse");
        return Promise.resolve(logitsFor(Array.from({ length: B }, (_, b) => tokens[b * T + T - 1])));
      },
      decode(tokens: Int32Array) {
        cache.pos += 1;
        if (tokens.length !== batch || cache.pos > maxLen) throw new Error("stub cache misuse");
        fed.push(Array.from(tokens));
        return Promise.resolve(logitsFor(Array.from(tokens)));
      },
      copyFrom(src: EngineCache) {
        cache.pos = (src as EngineCache & { pos: number }).pos;
      },
      free() {},
    };
    return cache;
  }
}

async function collect(gen: AsyncGenerator<GeneratedPiece, string>) {
  const pieces: GeneratedPiece[] = [];
  for (;;) {
    const r = await gen.next();
    if (r.done) return { pieces, finish: r.value };
    pieces.push(r.value);
  }
}

Deno.test("sampling: argmax, top-k, temperature and the seeded RNG", () => {
  const row = Float32Array.from([0.1, 3, -1, 3, 2]);
  assertEquals(argmax(row), 1);
  assertEquals(topKIndices(row, 3), [1, 3, 4]);
  assertEquals(sampleToken(row, 0, 0, new Rng(1)), 1);
  // top-k 1 is greedy at any temperature
  for (let s = 0; s < 20; s++) assertEquals(sampleToken(row, 5, 1, new Rng(s)), 1);
  // top-k 2 never leaves the two best
  for (let s = 0; s < 200; s++) assert([1, 3].includes(sampleToken(row, 1, 2, new Rng(s))));
  // a huge logit gap is (numerically) certain, with the max subtracted first (no overflow)
  assertEquals(sampleToken(Float32Array.from([1000, 0, -1000]), 1, 0, new Rng(3)), 0);
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const xs = Array.from({ length: 8 }, () => a.next());
  assertEquals(xs, Array.from({ length: 8 }, () => b.next()));
  assert(JSON.stringify(xs) !== JSON.stringify(Array.from({ length: 8 }, () => c.next())));
  assert(xs.every((x) => x >= 0 && x < 1));
  // roughly the right frequencies: p(0) = e/(e+1) at logits [1, 0]
  const rng = new Rng(9);
  let zeros = 0;
  for (let i = 0; i < 4000; i++) if (sampleToken([1, 0], 1, 0, rng) === 0) zeros++;
  assert(Math.abs(zeros / 4000 - Math.E / (Math.E + 1)) < 0.03, `${zeros}`);
});

Deno.test("engine: greedy batched rows equal sequential single-row decoding", async () => {
  await withModel(async (engine) => {
    const opts = { temperature: 0, topK: 0, maxTokens: 12 };
    const single = await engine.generate(PROMPT, opts);
    assertEquals(single.length, 1);
    assert(single[0].tokens.length > 0);
    const batched = await engine.generate(PROMPT, { ...opts, numSamples: 3 });
    assertEquals(batched.length, 3);
    for (const row of batched) assertEquals(row, single[0]);
    // and the streamed version agrees
    const { pieces, finish } = await collect(engine.stream(PROMPT, opts));
    assertEquals(pieces.map((p) => p.token), single[0].tokens);
    assertEquals(finish, single[0].finish);
  });
});

Deno.test("engine: seeds, max tokens and independent first tokens", async () => {
  await withModel(async (engine) => {
    const opts = { temperature: 1, topK: 0, maxTokens: 16 };
    const a = await engine.generate(PROMPT, { ...opts, seed: 1 });
    const b = await engine.generate(PROMPT, { ...opts, seed: 1 });
    const c = await engine.generate(PROMPT, { ...opts, seed: 2 });
    assertEquals(a, b);
    assert(
      JSON.stringify(a[0].tokens) !== JSON.stringify(c[0].tokens),
      "different seeds gave the same tokens",
    );
    for (const maxTokens of [1, 5]) {
      const rows = await engine.generate(PROMPT, { ...opts, maxTokens, numSamples: 2, seed: 3 });
      for (const r of rows) {
        assert(r.tokens.length <= maxTokens);
        if (r.finish === "length") assertEquals(r.tokens.length, maxTokens);
      }
    }
    const rows = await engine.generate(PROMPT, { ...opts, maxTokens: 1, numSamples: 8, seed: 5 });
    const firsts = new Set(rows.map((r) => r.tokens[0] ?? -1));
    assert(firsts.size > 1, `the 8 rows all started with the same token: ${[...firsts]}`);
  });
});

Deno.test("engine: the context length caps generation with finish 'length'", async () => {
  await withModel(async (engine) => {
    const [row] = await engine.generate(PROMPT, { temperature: 0, topK: 0, maxTokens: 500 });
    if (row.finish === "length") assertEquals(PROMPT.length + row.tokens.length, 33);
    else assert(PROMPT.length + row.tokens.length <= 33);
    const long = Array(40).fill(PROMPT[1]);
    await assertRejects(
      () => engine.generate(long, { temperature: 0, topK: 0, maxTokens: 4 }),
      UserError,
      "context",
    );
  }, 32);
});

Deno.test("engine: <|python_start|>2+3<|python_end|> forces <|output_start|>5<|output_end|> with mask 0", async () => {
  const expr = tok.encode("2+3");
  const script = [sp("<|python_start|>"), ...expr, sp("<|python_end|>")];
  const next = new Map<number, number>();
  let last = sp("<|assistant_start|>");
  for (const t of script) {
    next.set(last, t);
    last = t;
  }
  next.set(sp("<|output_end|>"), sp("<|assistant_end|>"));
  const stub = new StubModel(next, tok.encode("x")[0]);
  const engine = new Engine(stub, tok);
  const forced = [sp("<|output_start|>"), ...tok.encode("5"), sp("<|output_end|>")];
  const rows = await engine.generate(PROMPT, { temperature: 0, topK: 0, maxTokens: 50, numSamples: 2 });
  for (const row of rows) {
    assertEquals(row.tokens, [...script, ...forced]);
    assertEquals(row.masks, [...script.map(() => 1), ...forced.map(() => 0)]);
    assertEquals(row.finish, "stop");
  }
  // the forced tokens were fed to the model
  assert(stub.fed.some((col) => col[0] === sp("<|output_start|>")));
  const { pieces, finish } = await collect(engine.stream(PROMPT, { temperature: 0, topK: 0, maxTokens: 50 }));
  assertEquals(finish, "stop");
  assertEquals(
    pieces.map((p) => p.text).join(""),
    "<|python_start|>2+3<|python_end|><|output_start|>5<|output_end|>",
  );
  assertEquals(pieces.map((p) => p.mask), [...script.map(() => 1), ...forced.map(() => 0)]);
  // an expression the calculator rejects forces nothing
  const bad = new Map(next);
  bad.set(sp("<|python_start|>"), tok.encode("x")[0]);
  bad.set(tok.encode("x")[0], sp("<|python_end|>"));
  bad.set(sp("<|python_end|>"), sp("<|assistant_end|>"));
  const [row] = await new Engine(new StubModel(bad, sp("<|assistant_end|>")), tok)
    .generate(PROMPT, { temperature: 0, topK: 0, maxTokens: 50 });
  assertEquals(row.tokens, [sp("<|python_start|>"), tok.encode("x")[0], sp("<|python_end|>")]);
  assert(row.masks.every((m) => m === 1));
});

Deno.test("engine: rows stop at <|assistant_end|> or <|bos|>, max tokens with a stub that never stops", async () => {
  const x = tok.encode("x")[0];
  const never = new Engine(new StubModel(new Map(), x), tok);
  const [row] = await never.generate(PROMPT, { temperature: 0, topK: 0, maxTokens: 7 });
  assertEquals(row, { tokens: Array(7).fill(x), masks: Array(7).fill(1), finish: "length" });
  const bos = new Engine(new StubModel(new Map([[x, sp("<|bos|>")]]), x), tok);
  const [r2] = await bos.generate(PROMPT, { temperature: 0, topK: 0, maxTokens: 7 });
  assertEquals(r2, { tokens: [x], masks: [1], finish: "stop" });
});

Deno.test("engine: an abort signal stops the stream with 'aborted'", async () => {
  const x = tok.encode("x")[0];
  const engine = new Engine(new StubModel(new Map(), x), tok);
  const ac = new AbortController();
  const gen = engine.stream(PROMPT, { temperature: 0, topK: 0, maxTokens: 100, signal: ac.signal });
  const seen: number[] = [];
  let finish: string;
  for (;;) {
    const r = await gen.next();
    if (r.done) {
      finish = r.value;
      break;
    }
    seen.push(r.value.token);
    if (seen.length === 3) ac.abort();
  }
  assertEquals(finish, "aborted");
  assertEquals(seen.length, 3);
});

Deno.test("utf8 stream: multi-byte characters split across chunks are never emitted half", () => {
  const text = "héllo 世界 🌍 ok ñ€𝄞";
  const bytes = new TextEncoder().encode(text);
  const rng = new Rng(11);
  for (let trial = 0; trial < 200; trial++) {
    const dec = new Utf8StreamDecoder();
    let out = "";
    for (let i = 0; i < bytes.length;) {
      const n = 1 + (rng.nextU32() % 4);
      const piece = dec.push(bytes.slice(i, i + n));
      assert(!piece.includes("\uFFFD"), `half a character in ${JSON.stringify(piece)}`);
      // no lone surrogates either
      assertEquals(piece, new TextDecoder().decode(new TextEncoder().encode(piece)));
      out += piece;
      i += n;
    }
    out += dec.flush();
    assertEquals(out, text);
  }
  const dec = new Utf8StreamDecoder();
  assertEquals(dec.push(Uint8Array.from([0xe4, 0xb8])), "");
  assertEquals(dec.pending, 2);
  assertEquals(dec.flush(), "\uFFFD");
  assertEquals(dec.push(Uint8Array.from([0x41, 0x80])), "A\uFFFD");
});

Deno.test("engine: streamed text holds back partial characters (byte tokens of 世)", async () => {
  // with this small vocabulary the bytes of 世 (e4 b8 96) are single tokens; script them
  const ids = Array.from(new TextEncoder().encode("世"));
  const start = sp("<|assistant_start|>");
  const next = new Map([[start, ids[0]], [ids[0], ids[1]], [ids[1], ids[2]], [
    ids[2],
    sp("<|assistant_end|>"),
  ]]);
  for (const id of ids) assertEquals(Array.from(tok.decodeBytes([id])), [id]);
  const engine = new Engine(new StubModel(next, sp("<|assistant_end|>")), tok);
  const { pieces, finish } = await collect(engine.stream(PROMPT, { temperature: 0, topK: 0, maxTokens: 10 }));
  assertEquals(finish, "stop");
  assertEquals(pieces.map((p) => p.token), ids);
  assertEquals(pieces.map((p) => p.text), ["", "", "世"]);
  // cut off after two bytes: the last piece carries the replacement character
  const cut = await collect(engine.stream(PROMPT, { temperature: 0, topK: 0, maxTokens: 2 }));
  assertEquals(cut.finish, "length");
  assertEquals(cut.pieces.map((p) => p.text), ["", "\uFFFD"]);
});
