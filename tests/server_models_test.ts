// The server's models (the stage picker): /v1/models lists the stages, `model` selects one, models load on
// first use and at most maxLoaded stay in memory (idle ones unloaded, busy ones never), unknown models are
// OpenAI's 404 model_not_found, a failed load is a 500 that a later request retries. And the OpenAI
// endpoint's validation, through the official client and raw requests.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import OpenAI from "openai";
import type { ChatEngine, FinishReason, GeneratedPiece, GenerateOptions } from "../src/engine/types.ts";
import { createApp } from "../src/server/app.ts";
import { ModelCatalog, type ModelSpec } from "../src/server/models.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";

const tokenizer = await Tokenizer.train([
  "I am the base model, the mid model and the sft model. Hello there, who are you? ".repeat(20),
  "a small corpus for a tiny vocabulary with more words to merge: quick brown fox jumps over lazy dogs",
], { vocabSize: 270 });

/** Says which model it is, word by word, waiting `gate` (when set) before the last word. */
class NamedEngine implements ChatEngine {
  readonly tokenizer = tokenizer;
  gate: Promise<void> | null = null;
  constructor(readonly name: string) {}
  async *stream(_prompt: number[], options: GenerateOptions): AsyncGenerator<GeneratedPiece, FinishReason> {
    const words = ["I", " am", ` ${this.name}`];
    for (const [i, w] of words.entries()) {
      if (i === words.length - 1 && this.gate) await this.gate;
      await new Promise((r) => setTimeout(r, 1));
      if (options.signal?.aborted) return "aborted";
      yield { token: i, text: w, mask: 1 };
    }
    return "stop";
  }
}

interface Harness {
  url: string;
  loads: string[];
  closes: string[];
  engines: Map<string, NamedEngine>;
  catalog: ModelCatalog;
  failNext: Set<string>;
}

async function withModels(
  stages: string[],
  maxLoaded: number,
  fn: (h: Harness) => Promise<void>,
  apiKey?: string,
): Promise<void> {
  const h: Omit<Harness, "url" | "catalog"> = {
    loads: [],
    closes: [],
    engines: new Map(),
    failNext: new Set(),
  };
  const specs: ModelSpec[] = stages.map((stage, i) => ({
    id: `nanochat-${stage}-d2-${10 + i}`,
    stage,
    tag: "d2",
    step: 10 + i,
    load: () => {
      h.loads.push(stage);
      if (h.failNext.delete(stage)) return Promise.reject(new Error(`corrupt checkpoint for ${stage}`));
      const engine = new NamedEngine(stage);
      h.engines.set(stage, engine);
      return Promise.resolve({ engines: [engine], close: () => h.closes.push(stage) });
    },
  }));
  const catalog = new ModelCatalog(specs, { defaultId: specs[0].id, maxLoaded, maxQueue: 4 });
  await catalog.preload(specs[0].id);
  const app = createApp({ models: catalog, logger: () => {}, apiKey });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  try {
    await fn({ ...h, url: `http://127.0.0.1:${server.addr.port}`, catalog });
  } finally {
    await server.shutdown();
    catalog.close();
  }
}

function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

const USER = [{ role: "user" as const, content: "who are you?" }];

/** The text of a nanochat SSE reply. */
async function sseText(res: Response): Promise<string> {
  assertEquals(res.status, 200);
  return (await res.text()).split("\n\n").filter((f) => f.startsWith("data: "))
    .map((f) => JSON.parse(f.slice(6))).map((d) => d.token ?? "").join("");
}

Deno.test("/v1/models lists each stage; `model` picks one by id, stage or alias; unknown is a 404", async () => {
  await withModels(["sft", "base", "mid"], 3, async ({ url, loads }) => {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
    const list = await client.models.list();
    assertEquals(list.data.map((m) => m.id), [
      "nanochat-sft-d2-10",
      "nanochat-base-d2-11",
      "nanochat-mid-d2-12",
    ]);
    const raw = await (await fetch(`${url}/v1/models`)).json();
    assertEquals(raw.data[1], {
      object: "model",
      created: raw.data[1].created,
      owned_by: "nanochat",
      id: "nanochat-base-d2-11",
      stage: "base",
      tag: "d2",
      step: 11,
      default: false,
      loaded: false,
    });
    assertEquals(loads, ["sft"], "only the default is loaded at start");

    for (const [model, who] of [["nanochat-base-d2-11", "base"], ["mid", "mid"], ["nanochat", "sft"]]) {
      const r = await client.chat.completions.create({ model, messages: USER });
      assertEquals(r.choices[0].message.content, `I am ${who}`);
      assertEquals(r.model, `nanochat-${who}-d2-${{ sft: 10, base: 11, mid: 12 }[who]}`);
    }
    assertEquals(loads, ["sft", "base", "mid"], "each loaded once, on first use");
    assertEquals(
      await sseText(await post(`${url}/chat/completions`, { messages: USER, model: "base" })),
      "I am base",
    );
    assertEquals(await sseText(await post(`${url}/chat/completions`, { messages: USER })), "I am sft");

    try {
      await client.chat.completions.create({ model: "gpt-4o", messages: USER });
      throw new Error("an unknown model was accepted");
    } catch (err) {
      assert(err instanceof OpenAI.NotFoundError, String(err));
      assertEquals(err.code, "model_not_found");
      assertEquals(err.param, "model");
      assertStringIncludes(err.message, "nanochat-sft-d2-10");
    }
    const sse = await post(`${url}/chat/completions`, { messages: USER, model: "rl" });
    assertEquals(sse.status, 404);
    assertStringIncludes((await sse.json()).error, "does not exist");
  });
});

Deno.test("at most maxLoaded models stay loaded: the idle least recently used goes, a busy one never", async () => {
  await withModels(["sft", "base", "mid"], 2, async ({ url, loads, closes, engines }) => {
    const ask = (model: string) => post(`${url}/chat/completions`, { messages: USER, model });
    assertEquals(await sseText(await ask("base")), "I am base");
    assertEquals(await sseText(await ask("sft")), "I am sft"); // sft is now the most recent
    assertEquals(await sseText(await ask("mid")), "I am mid"); // unloads base (idle, least recent)
    assertEquals(closes, ["base"]);
    const listed = (await (await fetch(`${url}/v1/models`)).json()).data;
    assertEquals(listed.map((m: { loaded: boolean }) => m.loaded), [true, false, true]);

    // both loaded models busy: a third cannot be loaded, so it is a 503 with Retry-After, not a third model
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    engines.get("sft")!.gate = gate;
    engines.get("mid")!.gate = gate;
    const busy = [ask("sft"), ask("mid")];
    await new Promise((r) => setTimeout(r, 50));
    const refused = await ask("base");
    assertEquals(refused.status, 503);
    assertEquals(refused.headers.get("retry-after"), "1");
    assertStringIncludes((await refused.json()).error, "cannot be loaded now");
    open();
    assertEquals(await Promise.all(busy.map(async (r) => await sseText(await r))), ["I am sft", "I am mid"]);
    engines.get("sft")!.gate = engines.get("mid")!.gate = null;
    assertEquals(await sseText(await ask("base")), "I am base");
    assertEquals(loads, ["sft", "base", "mid", "base"]);
    assertEquals(closes, ["base", "sft"]);
  });
});

Deno.test("a model that fails to load answers 500 with the reason; the next request tries again", async () => {
  await withModels(["sft", "base"], 2, async ({ url, failNext, loads }) => {
    failNext.add("base");
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
    try {
      await client.chat.completions.create({ model: "base", messages: USER });
      throw new Error("accepted");
    } catch (err) {
      assert(err instanceof OpenAI.InternalServerError, String(err));
      assertStringIncludes(
        err.message,
        "could not load model nanochat-base-d2-11: corrupt checkpoint for base",
      );
    }
    const ok = await client.chat.completions.create({ model: "base", messages: USER });
    assertEquals(ok.choices[0].message.content, "I am base");
    assertEquals(loads, ["sft", "base", "base"]);
  });
});

/** Posts `body` to /v1/chat/completions; the status and OpenAI error body. */
async function openaiError(url: string, body: unknown) {
  const res = await post(`${url}/v1/chat/completions`, body);
  const json = await res.json();
  return { status: res.status, error: json.error };
}

Deno.test("OpenAI validation: what OpenAI rejects is a 400 in OpenAI's shape, naming the field", async () => {
  await withModels(["sft"], 1, async ({ url }) => {
    const m = "nanochat";
    const image = { type: "image_url", image_url: { url: "https://example.com/cat.png" } };
    const cases: [string, unknown, string, string][] = [
      ["missing model", { messages: USER }, "model", "you must provide a model parameter"],
      ["model not a string", { model: 7, messages: USER }, "model", "model must be a string"],
      ["messages not a list", { model: m, messages: "hi" }, "messages", "messages must be a non-empty array"],
      ["user content missing", { model: m, messages: [{ role: "user" }] }, "messages[0].content", "required"],
      [
        "user content null",
        { model: m, messages: [{ role: "user", content: null }] },
        "messages[0].content",
        "null",
      ],
      [
        "system content null",
        {
          model: m,
          messages: [{ role: "system", content: null }, ...USER],
        },
        "messages[0].content",
        "required",
      ],
      [
        "content a number",
        { model: m, messages: [{ role: "user", content: 5 }] },
        "messages[0].content",
        "string",
      ],
      [
        "empty parts",
        { model: m, messages: [{ role: "user", content: [] }] },
        "messages[0].content",
        "empty",
      ],
      [
        "image part",
        {
          model: m,
          messages: [{ role: "user", content: [{ type: "text", text: "what is this?" }, image] }],
        },
        "messages[0].content[1].type",
        "reads text only",
      ],
      [
        "audio part",
        {
          model: m,
          messages: [{
            role: "user",
            content: [{ type: "input_audio", input_audio: { data: "", format: "wav" } }],
          }],
        },
        "messages[0].content[0].type",
        "audio",
      ],
      [
        "text part without text",
        {
          model: m,
          messages: [{ role: "user", content: [{ type: "text" }] }],
        },
        "messages[0].content[0].text",
        "must be a string",
      ],
      [
        "tool role",
        {
          model: m,
          messages: [...USER, { role: "tool", content: "42", tool_call_id: "1" }],
        },
        "messages[1].role",
        "no tools",
      ],
      [
        "temperature a string",
        { model: m, messages: USER, temperature: "0.5" },
        "temperature",
        "finite number",
      ],
      [
        "temperature infinite",
        '{"model":"nanochat","messages":[{"role":"user","content":"hi"}],"temperature":1e999}',
        "temperature",
        "got Infinity",
      ],
      ["max_tokens fractional", { model: m, messages: USER, max_tokens: 1.5 }, "max_tokens", "integer"],
      [
        "seed huge",
        '{"model":"nanochat","messages":[{"role":"user","content":"hi"}],"seed":-1e400}',
        "seed",
        "finite",
      ],
      ["top_p > 1", { model: m, messages: USER, top_p: 1.5 }, "top_p", "between 0 and 1"],
      [
        "presence_penalty a string",
        { model: m, messages: USER, presence_penalty: "x" },
        "presence_penalty",
        "number",
      ],
      ["stream not a boolean", { model: m, messages: USER, stream: "yes" }, "stream", "boolean"],
      [
        "stream_options without stream",
        {
          model: m,
          messages: USER,
          stream_options: { include_usage: true },
        },
        "stream_options",
        "only allowed when stream is true",
      ],
      ["stop a number", { model: m, messages: USER, stop: 5 }, "stop", "string"],
      ["n = 2", { model: m, messages: USER, n: 2 }, "n", "only n = 1"],
      [
        "unknown field",
        { model: m, messages: USER, temprature: 0.5 },
        "temprature",
        "Unrecognized request argument",
      ],
      [
        "tools",
        {
          model: m,
          messages: USER,
          tools: [{ type: "function", function: { name: "f" } }],
        },
        "tools",
        "not supported",
      ],
      [
        "json mode",
        { model: m, messages: USER, response_format: { type: "json_object" } },
        "response_format",
        "not supported",
      ],
      ["logprobs", { model: m, messages: USER, logprobs: true }, "logprobs", "not supported"],
      ["user not a string", { model: m, messages: USER, user: 5 }, "user", "string"],
    ];
    for (const [name, body, param, message] of cases) {
      const { status, error } = await openaiError(url, body);
      assertEquals(status, 400, name);
      assertEquals(error.type, "invalid_request_error", name);
      assertEquals(error.param, param, name);
      assertStringIncludes(error.message, message, name);
      assert("code" in error, name);
    }

    // accepted: text parts, null optional fields, neutral values of unsupported features, ignored fields
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
    const ok = await client.chat.completions.create({
      model: m,
      messages: [
        { role: "developer", content: [{ type: "text", text: "Be brief." }] },
        { role: "user", content: [{ type: "text", text: "who " }, { type: "text", text: "are you?" }] },
      ],
      top_p: 1,
      presence_penalty: 0,
      frequency_penalty: 0,
      logprobs: false,
      tools: [],
      response_format: { type: "text" },
      user: "someone",
      store: false,
      stop: null,
      seed: null,
    });
    assertEquals(ok.choices[0].message.content, "I am sft");
    // an image part sent through the client (typed as allowed there) is refused
    try {
      await client.chat.completions.create(
        // deno-lint-ignore no-explicit-any
        { model: m, messages: [{ role: "user", content: [image] }] } as any,
      );
      throw new Error("accepted an image");
    } catch (err) {
      assert(err instanceof OpenAI.BadRequestError, String(err));
      assertStringIncludes(err.message, "reads text only");
    }
  });
});

Deno.test("cleanup: free the test tokenizer", () => {
  tokenizer.free();
});
