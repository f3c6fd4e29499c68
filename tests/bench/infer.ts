// `deno task bench:infer`: CPU inference for d4 and d8 (vocab 65536, sequence length 512), random weights:
//   * Engine.generate at batch 1 and 8: time to first token (prefill of a 128-token prompt + first sample)
//     and decode tok/s over 64 new tokens, with the share of time inside native code;
//   * PyTorch CPU (same model size, simple KV cache, 2 threads) side by side (skipped with a note when torch
//     is not importable; BENCH_TORCH_PATH adds a folder to PYTHONPATH);
//   * the chat server (createApp + WorkerPool, one d4 engine) under 1, 4 and 8 concurrent streaming
//     requests: aggregate tok/s, p50/p99 latency, and its overhead over the engine alone.
// The tokenizer is synthetic (256 bytes + byte pairs + nanochat's specials = 65536 ids) so no training or
// download is needed.
import { fileURLToPath } from "node:url";
import { configFromDepth } from "../../src/model/config.ts";
import { ComputeContext, GPT } from "../../src/model/mod.ts";
import { Engine } from "../../src/engine/engine.ts";
import { runCompletion } from "../../src/server/generate.ts";
import { createApp } from "../../src/server/app.ts";
import { WorkerPool } from "../../src/server/pool.ts";
import { renderForCompletion } from "../../src/tokenizer/render.ts";
import { SPECIAL_TOKENS, SPLIT_PATTERN } from "../../src/tokenizer/special.ts";
import { Tokenizer } from "../../src/tokenizer/tokenizer.ts";

const T = 512;
const VOCAB = 65536;
const PROMPT_LEN = 128;
const NEW_TOKENS = 64;
const REPS = Number(Deno.env.get("BENCH_REPS") ?? "3");
const SERVER_MAX_TOKENS = 32;
const CONCURRENCY = [1, 4, 8];
const TORCH_THREADS = 2;
const SAMPLING = { temperature: 1, topK: 50 };
const threads = navigator.hardwareConcurrency;
const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { ok: out.success, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)];
const pct = (xs: number[], p: number) =>
  sorted(xs)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];

/** 256 byte tokens, then byte pairs, then the specials: exactly VOCAB ids, every one decodable. */
function syntheticTokenizer(): Tokenizer {
  const b64 = (bytes: number[]) => btoa(String.fromCharCode(...bytes));
  const lines: string[] = [];
  for (let b = 0; b < 256; b++) lines.push(`${b64([b])} ${b}`);
  const pairs = VOCAB - 256 - SPECIAL_TOKENS.length;
  for (let i = 0; i < pairs; i++) lines.push(`${b64([i >> 8, i & 255])} ${256 + i}`);
  const tok = Tokenizer.fromRanks(new TextEncoder().encode(lines.join("\n") + "\n"), SPLIT_PATTERN, [
    ...SPECIAL_TOKENS,
  ]);
  if (tok.vocabSize !== VOCAB) throw new Error(`synthetic tokenizer has ${tok.vocabSize} ids, not ${VOCAB}`);
  return tok;
}

/** A model with small random values in every parameter (nanochat's init zeroes lm_head: all logits equal). */
function randomModel(ctx: ComputeContext, depth: number, maxBatch: number): GPT {
  const model = GPT.create(ctx, configFromDepth(depth, VOCAB, T), { maxBatch });
  let s = 0x9e3779b9 ^ depth;
  for (const p of model.params()) {
    const data = new Float32Array(p.numel);
    for (let i = 0; i < data.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0; // LCG: cheap for the 33M-value embeddings
      data[i] = (s / 2 ** 32 - 0.5) * 0.2;
    }
    model.writeParam(p.index, data);
  }
  return model;
}

const tokenizer = syntheticTokenizer();
const prompt = Array.from({ length: PROMPT_LEN }, (_, i) => 256 + ((i * 7919) % 60000));
console.log(
  `machine: ${threads} cores; vocab ${VOCAB}, sequence length ${T}; prompt ${PROMPT_LEN} tokens, ` +
    `${NEW_TOKENS} new tokens, temperature ${SAMPLING.temperature} top-k ${SAMPLING.topK}; ` +
    `best (median) of ${REPS} runs after a warm-up\n`,
);

// ---- 1 + 2: Engine vs PyTorch ---------------------------------------------------------------------------
console.log("## Engine.generate vs PyTorch CPU (KV cache)\n");
console.log(
  "| model | B | ours TTFT ms | ours decode tok/s | native share of generate | " +
    `PyTorch TTFT ms | PyTorch decode tok/s (${TORCH_THREADS} threads) | ours / PyTorch decode |`,
);
console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
let earlyStops = 0;
for (const depth of [4, 8]) {
  const ctx = ComputeContext.create({ threads: 0, seed: 1, profile: true });
  const model = randomModel(ctx, depth, 1);
  const engine = new Engine(model, tokenizer);
  try {
    for (const B of [1, 8]) {
      const ttfts: number[] = [];
      const decodes: number[] = [];
      const shares: number[] = [];
      for (let r = 0; r <= REPS; r++) {
        const opts = { ...SAMPLING, numSamples: B, seed: 1000 + r };
        let t0 = performance.now();
        await engine.generate(prompt, { ...opts, maxTokens: 1 });
        const ttft = (performance.now() - t0) / 1000;
        model.resetProfile();
        t0 = performance.now();
        const rows = await engine.generate(prompt, { ...opts, maxTokens: NEW_TOKENS + 1 });
        const total = (performance.now() - t0) / 1000;
        const nativeS = model.profile().totalSeconds;
        // a row that sampled <|assistant_end|> stops early; count so the table can say so
        if (rows.some((row) => row.tokens.length !== NEW_TOKENS + 1)) earlyStops++;
        if (r === 0) continue; // warm-up
        ttfts.push(ttft);
        decodes.push(total - ttft); // NEW_TOKENS decode steps + samples
        shares.push(nativeS / total);
      }
      const torch = await run("python3", [
        root("tests/bench/infer_reference_torch.py"),
        ...[depth, B, PROMPT_LEN, NEW_TOKENS, VOCAB, T, REPS, TORCH_THREADS].map(String),
      ], { PYTHONPATH: Deno.env.get("BENCH_TORCH_PATH") ?? "" });
      const oursTokS = (B * NEW_TOKENS) / Math.min(...decodes);
      const oursMed = (B * NEW_TOKENS) / median(decodes);
      let torchCells = "skipped: pip install torch | skipped: pip install torch | - |";
      if (torch.ok) {
        const j = JSON.parse(torch.stdout.trim().split("\n").pop()!);
        const tTokS = (B * NEW_TOKENS) / j.decode_best;
        torchCells = `${(j.ttft_best * 1000).toFixed(1)} (${(j.ttft_median * 1000).toFixed(1)}) | ` +
          `${tTokS.toFixed(0)} (${((B * NEW_TOKENS) / j.decode_median).toFixed(0)}) | ` +
          `${(oursTokS / tTokS).toFixed(2)}x |`;
      }
      console.log(
        `| d${depth} | ${B} | ${(Math.min(...ttfts) * 1000).toFixed(1)} (${
          (median(ttfts) * 1000).toFixed(1)
        }) | ` +
          `${oursTokS.toFixed(0)} (${oursMed.toFixed(0)}) | ${
            (100 * median(shares)).toFixed(1)
          }% | ${torchCells}`,
      );
    }
  } finally {
    model.free();
    ctx.destroy();
  }
}
if (earlyStops > 0) console.log(`\n(${earlyStops} runs had a row stop early on a sampled special token)`);
console.log(
  "\nTTFT = prefill of the prompt at batch 1 + broadcast of the cache to B rows + first sample; decode tok/s = " +
    `B x ${NEW_TOKENS} / time of ${NEW_TOKENS} decode+sample steps; native share = time inside the native ` +
    "library / wall time of the whole generate call.\n",
);

// ---- 3: the server --------------------------------------------------------------------------------------
console.log(
  `## Server: createApp + WorkerPool, 1 d4 engine, POST /chat/completions (max_tokens ${SERVER_MAX_TOKENS})\n`,
);
{
  const ctx = ComputeContext.create({ threads: 0, seed: 1 });
  const model = randomModel(ctx, 4, 1);
  const engine = new Engine(model, tokenizer);
  const completionTokens: number[] = [];
  const app = createApp({
    workers: new WorkerPool([engine], 64),
    modelName: "bench-d4",
    logger: (line) => {
      const m = / completion=(\d+) /.exec(line);
      if (m) completionTokens.push(Number(m[1]));
    },
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}/chat/completions`;
  const messages = [{
    role: "user" as const,
    content: "Why is the sky blue? Explain it in a few sentences.",
  }];
  const serverPrompt = renderForCompletion(tokenizer, {
    messages: [...messages, { role: "assistant", content: "" }],
  });
  const request = async (seed: number) => {
    const t0 = performance.now();
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        messages,
        max_tokens: SERVER_MAX_TOKENS,
        ...SAMPLING,
        top_k: SAMPLING.topK,
        seed,
      }),
    });
    if (res.status !== 200) throw new Error(`server answered ${res.status}: ${await res.text()}`);
    const text = await res.text();
    if (!text.includes('"done":true')) throw new Error("the stream ended without its done frame");
    return (performance.now() - t0) / 1000;
  };
  /** The same completion (same prompt, seed, settings) straight on the engine, as the server runs it. */
  const direct = async (seed: number) => {
    const t0 = performance.now();
    const r = await runCompletion(engine, serverPrompt, { ...SAMPLING, maxTokens: SERVER_MAX_TOKENS, seed });
    return { seconds: (performance.now() - t0) / 1000, tokens: r.completionTokens };
  };
  try {
    for (let i = 0; i < 2; i++) await request(1); // warm-up: connection, JIT
    await direct(1);
    console.log(
      "| concurrent | requests | aggregate tok/s | p50 latency ms | p99 latency ms | burst wall s | " +
        "engine alone s (same requests) | tokens server / direct | server overhead |",
    );
    console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (const n of CONCURRENCY) {
      const rounds = n === 1 ? 4 : 2;
      const latencies: number[] = [];
      let wall = 0;
      let engineS = 0;
      let tokens = 0;
      let directTokens = 0;
      for (let round = 0; round < rounds; round++) {
        const seeds = Array.from({ length: n }, (_, i) => 100 * n + 10 * round + i);
        completionTokens.length = 0;
        const t0 = performance.now();
        latencies.push(...await Promise.all(seeds.map(request)));
        wall += (performance.now() - t0) / 1000;
        // the log line of a streamed request is written when its stream ends: wait for all (bounded)
        for (let i = 0; i < 100 && completionTokens.length < n; i++) {
          await new Promise((r) => setTimeout(r, 5));
        }
        tokens += completionTokens.reduce((a, b) => a + b, 0);
        for (const seed of seeds) {
          const d = await direct(seed);
          engineS += d.seconds;
          directTokens += d.tokens;
        }
      }
      console.log(
        `| ${n} | ${n * rounds} | ${(tokens / wall).toFixed(0)} | ${
          (pct(latencies, 50) * 1000).toFixed(0)
        } | ` +
          `${(pct(latencies, 99) * 1000).toFixed(0)} | ${wall.toFixed(2)} | ${
            engineS.toFixed(2)
          } | ${tokens} / ${directTokens} | ` +
          `${(100 * (wall - engineS) / engineS).toFixed(1)}% |`,
      );
    }
    console.log(
      "\nOne engine serves the requests one after another (the pool queues them), so latency grows with " +
        "concurrency while aggregate tok/s stays near the engine's single-stream rate. Server overhead = " +
        "(burst wall time - sum of the same completions run directly on the engine) / that sum; target < 5%.",
    );
  } finally {
    await server.shutdown();
    model.free();
    ctx.destroy();
  }
}
tokenizer.free();
