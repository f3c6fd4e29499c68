// The inference engine: in-library sampling through the KV cache (greedy = argmax of the logits, seeded
// draws), batched vs sequential greedy decoding, seeding, limits, independent first tokens, the calculator
// tool state machine (driven by a stub model), streaming and UTF-8 safety.
import { assert, assertEquals, assertRejects } from "@std/assert";
import { UserError } from "../src/common/errors.ts";
import { Engine, type EngineCache, type EngineModel, rowSeeds } from "../src/engine/engine.ts";
import { Rng } from "./rng.ts";
import type { GeneratedPiece } from "../src/engine/types.ts";
import { Utf8StreamDecoder } from "../src/engine/utf8_stream.ts";
import { ComputeContext, GPT } from "../src/model/mod.ts";
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
    // greedy whatever the settings: the token the table says follows each row's last token
    const choose = (lastTokens: number[]) => ({
      tokens: Int32Array.from(lastTokens, (t) => next.get(t) ?? fallback),
    });
    const append = (tokens: Int32Array, B: number, T: number) => {
      cache.pos += T;
      if (B !== batch || tokens.length !== B * T || cache.pos > maxLen) throw new Error("stub cache misuse");
      return Array.from({ length: B }, (_, b) => tokens[b * T + T - 1]);
    };
    const cache = {
      pos: 0,
      prefill(tokens: Int32Array, B: number, T: number) {
        append(tokens, B, T);
        return Promise.resolve(null);
      },
      prefillSample(tokens: Int32Array, B: number, T: number) {
        return Promise.resolve(choose(append(tokens, B, T)));
      },
      decodeSample(tokens: Int32Array) {
        fed.push(Array.from(tokens));
        return Promise.resolve(choose(append(tokens, batch, 1)));
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

Deno.test("in-library sampling: greedy = argmax of the logits, equal seeds = equal tokens", async () => {
  await withModel(async (_engine, model) => {
    const prompt = Int32Array.from(PROMPT);
    const P = prompt.length;
    const logitsCache = model.createKVCache(1, P + 4);
    const sampleCache = model.createKVCache(1, P + 4);
    try {
      let logits = await logitsCache.prefill(prompt, 1, P);
      const greedy = { temperature: 0, topK: 0, logprobs: true };
      const seeds = rowSeeds(1, 1);
      let out = await sampleCache.prefillSample(prompt, 1, P, greedy, seeds);
      for (let step = 0; step < 4; step++) {
        let best = 0;
        for (let v = 1; v < V; v++) if (logits[v] > logits[best]) best = v;
        assertEquals(out.tokens[0], best, `step ${step}`);
        const mx = Math.max(...logits);
        const lse = mx + Math.log(logits.reduce((a, z) => a + Math.exp(z - mx), 0));
        assert(Math.abs(out.logprobs![0] - (logits[best] - lse)) < 1e-4, `logprob ${out.logprobs![0]}`);
        if (step === 3) break;
        logits = await logitsCache.decode(out.tokens);
        out = step % 2
          ? sampleCache.decodeSampleSync(out.tokens, greedy, seeds)
          : await sampleCache.decodeSample(
            out.tokens,
            greedy,
            seeds,
          );
      }
    } finally {
      logitsCache.free();
      sampleCache.free();
    }
    // seeded draws at temperature 1: the same seeds repeat, rows with other seeds differ
    const draw = async (seed: number) => {
      const cache = model.createKVCache(8, P);
      try {
        const rows = new Int32Array(8 * P);
        for (let b = 0; b < 8; b++) rows.set(prompt, b * P);
        return Array.from(
          (await cache.prefillSample(rows, 8, P, { temperature: 1, topK: 0 }, rowSeeds(seed, 8))).tokens,
        );
      } finally {
        cache.free();
      }
    };
    const a = await draw(7);
    assertEquals(await draw(7), a);
    assert(new Set(a).size > 1, `8 seeds drew one token: ${a}`);
    assert(JSON.stringify(await draw(8)) !== JSON.stringify(a), "another seed drew the same 8 tokens");
    // bad settings are UserErrors before anything runs
    const cache = model.createKVCache(1, P);
    try {
      await assertRejects(
        () => cache.prefillSample(prompt, 1, P, { temperature: -1, topK: 0 }, rowSeeds(1, 1)),
        UserError,
      );
      await assertRejects(
        () => cache.prefillSample(prompt, 1, P, { temperature: 1, topK: 0 }, rowSeeds(1, 2)),
        UserError,
      );
      assertEquals(cache.pos, 0);
    } finally {
      cache.free();
    }
  });
});

Deno.test("rowSeeds: row 0 is the request's seed, rows differ", () => {
  const s = rowSeeds(42, 3);
  assertEquals(s[0], 42n);
  assertEquals(new Set(s).size, 3);
  assertEquals(rowSeeds(-1, 1)[0], 2n ** 64n - 1n);
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
