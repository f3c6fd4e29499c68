// The chat server over real HTTP with a fake engine: nanochat's SSE protocol, the OpenAI API through the
// official client, validation, queueing, disconnects, auth and body limits.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import OpenAI from "openai";
import type { ChatEngine, FinishReason, GeneratedPiece, GenerateOptions } from "../src/engine/types.ts";
import { type AppOptions, createApp } from "../src/server/app.ts";
import { WorkerPool } from "../src/server/pool.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";

const WORDS = ["Hello", " there", ",", " I", " am", " nano", "chat", ".", " Nice", " day", "!"];
const REPLY = WORDS.join("");

const tokenizer = await Tokenizer.train([
  REPLY.repeat(20),
  "hello there, a small corpus for a tiny vocabulary with more words to merge",
], {
  vocabSize: 300,
});

/** Yields WORDS one per token with a small delay, stopping on abort (after the current token). */
class FakeEngine implements ChatEngine {
  readonly tokenizer = tokenizer;
  constructor(readonly delayMs = 2) {}
  async *stream(_prompt: number[], options: GenerateOptions): AsyncGenerator<GeneratedPiece, FinishReason> {
    for (let i = 0; i < WORDS.length; i++) {
      if (i >= options.maxTokens) return "length";
      await new Promise((r) => setTimeout(r, this.delayMs));
      if (options.signal?.aborted) return "aborted";
      yield { token: i, text: WORDS[i], mask: 1 };
    }
    return "stop";
  }
}

interface TestServer {
  url: string;
  pool: WorkerPool;
  logs: string[];
  close(): Promise<void>;
}

function startServer(
  opts: { workers?: number; maxQueue?: number; delayMs?: number } & Partial<Omit<AppOptions, "workers">> = {},
): TestServer {
  const pool = new WorkerPool(
    Array.from({ length: opts.workers ?? 1 }, () => new FakeEngine(opts.delayMs)),
    opts.maxQueue ?? 32,
  );
  const logs: string[] = [];
  const { workers: _w, maxQueue: _q, delayMs: _d, ...rest } = opts;
  const app = createApp({ modelName: "nanochat-test", logger: (l) => logs.push(l), ...rest, workers: pool });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    pool,
    logs,
    close: () => server.shutdown(),
  };
}

async function withServer(
  opts: Parameters<typeof startServer>[0],
  fn: (s: TestServer) => Promise<void>,
): Promise<void> {
  const s = startServer(opts);
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

const USER = [{ role: "user" as const, content: "hi" }];

/** Polls /stats until no worker is busy (bounded). */
// deno-lint-ignore no-explicit-any
async function waitIdle(url: string): Promise<Record<string, any>> {
  for (let i = 0; i < 200; i++) {
    const stats = await (await fetch(`${url}/stats`)).json();
    if (stats.busy === 0) return stats;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("workers stayed busy");
}

Deno.test("/chat/completions streams nanochat's SSE frames and a done frame", async () => {
  await withServer({}, async ({ url, logs }) => {
    const res = await post(`${url}/chat/completions`, { messages: USER, max_tokens: 100 });
    assertEquals(res.status, 200);
    assertStringIncludes(res.headers.get("content-type")!, "text/event-stream");
    const text = await res.text();
    const frames = text.split("\n\n").filter((f) => f.length > 0);
    assert(frames.every((f) => f.startsWith("data: ")));
    const data = frames.map((f) => JSON.parse(f.slice(6)));
    assertEquals(data.at(-1), { done: true });
    assertEquals(data.slice(0, -1), WORDS.map((token) => ({ token, gpu: 0 })));
    assert(text.startsWith('data: {"token":"Hello","gpu":0}\n\ndata: {"token":" there","gpu":0}\n\n'));
    await waitIdle(url);
    assert(
      logs.some((l) => /^POST \/chat\/completions 200 \d+ms prompt=\d+ completion=11 tok\/s=/.test(l)),
      logs.join("\n"),
    );
  });
});

Deno.test("/chat/completions honors max_tokens", async () => {
  await withServer({}, async ({ url }) => {
    const text = await (await post(`${url}/chat/completions`, { messages: USER, max_tokens: 3 })).text();
    assertEquals(text.split("\n\n").filter((f) => f).length, 4);
  });
});

Deno.test("/chat/completions rejects each out-of-limit request with 400", async () => {
  const long = "x".repeat(8001);
  const cases: [string, unknown][] = [
    ["no messages", { messages: [] }],
    ["messages missing", {}],
    ["501 messages", {
      messages: Array.from({ length: 501 }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: "a" })),
    }],
    ["content > 8000", { messages: [{ role: "user", content: long }] }],
    ["total > 32000", {
      messages: Array.from(
        { length: 5 },
        (_, i) => ({ role: i % 2 ? "assistant" : "user", content: "y".repeat(7000) }),
      ),
    }],
    ["empty content", { messages: [{ role: "user", content: "" }] }],
    ["system role", { messages: [{ role: "system", content: "s" }, ...USER] }],
    ["bad role", { messages: [{ role: "tool", content: "s" }] }],
    ["temperature < 0", { messages: USER, temperature: -0.1 }],
    ["temperature > 2", { messages: USER, temperature: 2.1 }],
    ["top_k < 0", { messages: USER, top_k: -1 }],
    ["top_k > 200", { messages: USER, top_k: 201 }],
    ["max_tokens < 1", { messages: USER, max_tokens: 0 }],
    ["max_tokens > 4096", { messages: USER, max_tokens: 4097 }],
    ["roles out of order", { messages: [{ role: "assistant", content: "a" }] }],
    ["invalid JSON", "{not json"],
  ];
  await withServer({}, async ({ url }) => {
    for (const [name, body] of cases) {
      const res = await post(`${url}/chat/completions`, body);
      const json = await res.json();
      assertEquals(res.status, 400, name);
      assertEquals(typeof json.error, "string", name);
    }
    // the edges themselves are accepted
    const ok = await post(`${url}/chat/completions`, {
      messages: USER,
      temperature: 2,
      top_k: 0,
      max_tokens: 1,
    });
    assertEquals(ok.status, 200);
    await ok.body?.cancel();
  });
});

Deno.test("the openai client gets matching non-streaming and streaming answers", async () => {
  await withServer({}, async ({ url }) => {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
    const models = await client.models.list();
    assertEquals(models.data.map((m) => [m.id, m.owned_by]), [["nanochat-test", "nanochat"]]);

    const messages = [
      { role: "system" as const, content: "Be nice." },
      { role: "user" as const, content: "hi" },
    ];
    const full = await client.chat.completions.create({ model: "nanochat-test", messages, seed: 1 });
    assertEquals(full.object, "chat.completion");
    assertEquals(full.choices[0].message, { role: "assistant", content: REPLY, refusal: null });
    assertEquals(full.choices[0].finish_reason, "stop");
    assertEquals(full.usage!.completion_tokens, WORDS.length);
    assert(full.usage!.prompt_tokens > 0);
    assertEquals(full.usage!.total_tokens, full.usage!.prompt_tokens + WORDS.length);

    const stream = await client.chat.completions.create({
      model: "nanochat-test",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let content = "";
    const finishes: (string | null)[] = [];
    let usage;
    for await (const chunk of stream) {
      assertEquals(chunk.object, "chat.completion.chunk");
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices) {
        content += choice.delta.content ?? "";
        finishes.push(choice.finish_reason);
      }
    }
    assertEquals(content, full.choices[0].message.content);
    assertEquals(finishes.at(-1), "stop");
    assertEquals(usage?.completion_tokens, WORDS.length);

    const short = await client.chat.completions.create({
      model: "nanochat-test",
      messages,
      max_completion_tokens: 2,
    });
    assertEquals(short.choices[0].message.content, "Hello there");
    assertEquals(short.choices[0].finish_reason, "length");
  });
});

Deno.test("stop sequences end generation and are trimmed, streaming or not", async () => {
  await withServer({}, async ({ url }) => {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
    for (const stop of [" nano", ["zzz", "m nan"], "there"]) {
      const expected = REPLY.slice(0, REPLY.indexOf(typeof stop === "string" ? stop : stop[1]));
      const full = await client.chat.completions.create({ model: "nanochat-test", messages: USER, stop });
      assertEquals(full.choices[0].message.content, expected);
      assertEquals(full.choices[0].finish_reason, "stop");
      const stream = await client.chat.completions.create({
        model: "nanochat-test",
        messages: USER,
        stop,
        stream: true,
      });
      let content = "";
      for await (const chunk of stream) content += chunk.choices[0]?.delta.content ?? "";
      assertEquals(content, expected);
    }
    await waitIdle(url);
  });
});

Deno.test("bad OpenAI requests come back as OpenAI errors", async () => {
  await withServer({}, async ({ url }) => {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
    const bad: Record<string, unknown>[] = [
      { messages: USER, n: 2 },
      { messages: [] },
      { messages: USER, temperature: 3 },
      { messages: USER, max_tokens: 5000 },
      { messages: [{ role: "tool", content: "x", tool_call_id: "1" }] },
      { messages: USER, stop: ["a", "b", "c", "d", "e"] },
    ];
    for (const body of bad) {
      try {
        // deno-lint-ignore no-explicit-any
        await client.chat.completions.create({ model: "nanochat-test", ...body } as any);
        throw new Error(`accepted ${JSON.stringify(body)}`);
      } catch (err) {
        assert(err instanceof OpenAI.APIError, String(err));
        assertEquals(err.status, 400);
        assertEquals(err.type, "invalid_request_error");
      }
    }
    const res = await post(`${url}/v1/chat/completions`, { model: "nanochat-test", messages: USER, n: 3 });
    const json = await res.json();
    assertEquals(json.error.param, "n");
    assertEquals(json.error.type, "invalid_request_error");
    assert("code" in json.error && typeof json.error.message === "string");
  });
});

Deno.test("a full queue answers 503 with Retry-After", async () => {
  await withServer({ workers: 1, maxQueue: 1, delayMs: 20 }, async ({ url }) => {
    const first = await post(`${url}/chat/completions`, { messages: USER });
    assertEquals(first.status, 200);
    const second = post(`${url}/chat/completions`, { messages: USER }); // waits in the queue
    // wait until the second request is queued
    for (let i = 0; i < 100 && (await (await fetch(`${url}/stats`)).json()).queued < 1; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const third = await post(`${url}/v1/chat/completions`, { model: "nanochat", messages: USER });
    assertEquals(third.status, 503);
    assertEquals(third.headers.get("retry-after"), "1");
    assertEquals((await third.json()).error.type, "server_error");
    await first.text();
    const secondRes = await second;
    assertEquals(secondRes.status, 200);
    assertStringIncludes(await secondRes.text(), '{"done":true}');
  });
});

Deno.test("a client disconnect frees its worker", async () => {
  await withServer({ workers: 1, delayMs: 30 }, async ({ url }) => {
    const abort = new AbortController();
    const res = await fetch(`${url}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: USER }),
      signal: abort.signal,
    });
    const reader = res.body!.getReader();
    await reader.read(); // the first frame arrived: generation is under way
    abort.abort();
    await reader.cancel().catch(() => {});
    const stats = await waitIdle(url);
    assertEquals(stats.busy, 0);
    const next = await post(`${url}/chat/completions`, { messages: USER });
    assertStringIncludes(await next.text(), '{"done":true}');
    assertEquals((await waitIdle(url)).busy, 0);
  });
});

Deno.test("20 concurrent streams all complete on 2 workers", async () => {
  await withServer({ workers: 2, delayMs: 1 }, async ({ url }) => {
    const texts = await Promise.all(
      Array.from(
        { length: 20 },
        async () => (await post(`${url}/chat/completions`, { messages: USER })).text(),
      ),
    );
    for (const text of texts) {
      const frames = text.split("\n\n").filter((f) => f).map((f) => JSON.parse(f.slice(6)));
      assertEquals(frames.slice(0, -1).map((f) => f.token).join(""), REPLY);
      assertEquals(frames.at(-1), { done: true });
    }
    const { models: _perModel, ...stats } = await waitIdle(url);
    assertEquals(stats, { workers: 2, busy: 0, queued: 0, served: 20 });
    const gpus = new Set(texts.map((t) => JSON.parse(t.split("\n\n")[0].slice(6)).gpu));
    assertEquals(gpus, new Set([0, 1]));
  });
});

Deno.test("auth: a missing or wrong key is refused with 401", async () => {
  await withServer({ apiKey: "sekret" }, async ({ url }) => {
    const health = await fetch(`${url}/health`);
    assertEquals(await health.json(), { status: "ok", ready: true });
    const missing = await post(`${url}/v1/chat/completions`, { model: "nanochat", messages: USER });
    assertEquals(missing.status, 401);
    assertEquals((await missing.json()).error.code, "invalid_api_key");
    const wrong = await post(`${url}/chat/completions`, { messages: USER }, { authorization: "Bearer nope" });
    assertEquals(wrong.status, 401);
    await wrong.body?.cancel();
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "wrong", maxRetries: 0 });
    try {
      await client.models.list();
      throw new Error("accepted a wrong key");
    } catch (err) {
      assert(err instanceof OpenAI.AuthenticationError, String(err));
    }
    const good = new OpenAI({ baseURL: `${url}/v1`, apiKey: "sekret", maxRetries: 0 });
    const reply = await good.chat.completions.create({ model: "nanochat-test", messages: USER });
    assertEquals(reply.choices[0].message.content, REPLY);
  });
});

Deno.test("a body over the limit is refused with 413; GET / without a UI is 404", async () => {
  await withServer({ bodyLimit: 1000 }, async ({ url }) => {
    const res = await post(`${url}/v1/chat/completions`, {
      messages: [{ role: "user", content: "z".repeat(2000) }],
    });
    assertEquals(res.status, 413);
    assertEquals((await res.json()).error.type, "invalid_request_error");
    const root = await fetch(`${url}/`);
    assertEquals(root.status, 404);
    await root.body?.cancel();
  });
  await withServer({ uiHtml: "<html>ui</html>" }, async ({ url }) => {
    const root = await fetch(`${url}/`);
    assertEquals(await root.text(), "<html>ui</html>");
  });
});

Deno.test("cleanup: free the test tokenizer", () => {
  tokenizer.free();
});
