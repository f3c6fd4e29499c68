// The chat server: nanochat's streaming protocol (/chat/completions, used by its web UI) and an
// OpenAI-compatible API (/v1/chat/completions, /v1/models) over the offered models (models.ts), each a pool
// of chat engines; `model` in a request picks one.
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { UserError } from "../common/errors.ts";
import type { GenerateOptions } from "../engine/types.ts";
import { type Message, renderForCompletion } from "../tokenizer/render.ts";
import { runCompletion } from "./generate.ts";
import { ModelCatalog, ModelLoadError, ModelNotFoundError, ModelsBusyError } from "./models.ts";
import { QueueFullError, type Worker, type WorkerPool } from "./pool.ts";
import { parseNanochatRequest, parseOpenAIRequest, RequestError, type SamplingRequest } from "./validate.ts";

export interface SamplingDefaults {
  temperature: number;
  topK: number;
  maxTokens: number;
}

export interface AppOptions {
  /** The models offered (the stage picker, `model` in requests), loaded lazily; or give `workers`. */
  models?: ModelCatalog;
  /** One model's engines, offered as `modelName` (with `models`, leave these out). */
  workers?: WorkerPool;
  /** The id of the `workers` model in /v1/models and completions. */
  modelName?: string;
  /** When set, every API request needs `Authorization: Bearer <apiKey>` (GET / and /health do not). */
  apiKey?: string;
  /** Largest accepted request body in bytes (default 1 MiB). */
  bodyLimit?: number;
  /** Sampling settings for requests that leave them out (nanochat's: 0.8, 50, 512). */
  defaults?: Partial<SamplingDefaults>;
  /** The web UI served at GET /; without it, GET / answers 404. */
  uiHtml?: string;
  /** Seconds a client is told to wait (Retry-After) when the queue is full (default 1). */
  retryAfter?: number;
  /** Where the one-line-per-request log goes (default console.log). */
  logger?: (line: string) => void;
}

interface RequestInfo {
  promptTokens: number;
  completionTokens: number;
  genStart: number;
  genEnd: number;
  /** The response is a stream: log when it ends, not when the handler returns. */
  deferred: boolean;
  ended: boolean;
  log?: () => void;
}

type Env = { Variables: { info: RequestInfo } };

const DEFAULTS: SamplingDefaults = { temperature: 0.8, topK: 50, maxTokens: 512 };
const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

/** Builds the Hono app; serve it with `Deno.serve({...}, app.fetch)`. */
export function createApp(options: AppOptions): Hono<Env> {
  if (!options.models && !options.workers) throw new Error("createApp needs `models` or `workers`");
  const catalog = options.models ??
    ModelCatalog.fromPool(options.workers!, { id: options.modelName ?? "nanochat", stage: "nanochat" });
  const defaults = { ...DEFAULTS, ...options.defaults };
  const log = options.logger ?? ((line: string) => console.log(line));
  const retryAfter = options.retryAfter ?? 1;
  const startedAt = Math.floor(Date.now() / 1000);
  const app = new Hono<Env>();

  // one log line per request: method, path, status, latency, tokens and generation speed
  app.use("*", async (c, next) => {
    const start = performance.now();
    const info: RequestInfo = {
      promptTokens: 0,
      completionTokens: 0,
      genStart: 0,
      genEnd: 0,
      deferred: false,
      ended: false,
    };
    c.set("info", info);
    await next();
    const status = c.res.status;
    info.log = () => {
      const ms = performance.now() - start;
      let line = `${c.req.method} ${c.req.path} ${status} ${ms.toFixed(0)}ms`;
      if (info.genStart > 0) {
        const secs = Math.max((info.genEnd || performance.now()) - info.genStart, 1e-3) / 1000;
        line += ` prompt=${info.promptTokens} completion=${info.completionTokens}` +
          ` tok/s=${(info.completionTokens / secs).toFixed(1)}`;
      }
      log(line);
    };
    if (!info.deferred || info.ended) info.log();
  });
  app.use("*", cors());
  app.use("*", async (c, next) => {
    const open = c.req.method === "OPTIONS" || c.req.path === "/" || c.req.path === "/health";
    if (options.apiKey === undefined || open) return await next();
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match || !safeEqual(match[1].trim(), options.apiKey)) {
      return errorResponse(c, 401, "invalid or missing API key (send Authorization: Bearer <key>)", {
        code: "invalid_api_key",
      });
    }
    await next();
  });
  app.use(
    "*",
    bodyLimit({
      maxSize: options.bodyLimit ?? 1 << 20,
      onError: (c) =>
        errorResponse(c, 413, `the request body is larger than ${options.bodyLimit ?? 1 << 20} bytes`),
    }),
  );

  app.get("/", (c) => {
    if (options.uiHtml !== undefined) return c.html(options.uiHtml);
    return errorResponse(
      c,
      404,
      "this server has no web UI; use POST /chat/completions or /v1/chat/completions",
    );
  });
  app.get("/health", (c) => c.json({ status: "ok", ready: catalog.ready }));
  // totals over the loaded models, and each model's own
  app.get("/stats", (c) => {
    const models = catalog.stats();
    const total = { workers: 0, busy: 0, queued: 0, served: 0 };
    for (const s of Object.values(models)) {
      for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += s[k];
    }
    return c.json({ ...total, models });
  });
  // OpenAI's model list, plus what the UI's stage picker shows (stage, tag, step, default, loaded)
  app.get("/v1/models", (c) =>
    c.json({
      object: "list",
      data: catalog.list().map((m) => ({ object: "model", created: startedAt, owned_by: "nanochat", ...m })),
    }));

  // nanochat's protocol: SSE frames {"token", "gpu"}, then {"done": true}
  app.post("/chat/completions", async (c) => {
    const req = parseNanochatRequest(await readJson(c));
    const lease = await acquire(c, catalog.resolve(req.model).id);
    if (lease instanceof Response) return lease;
    const { worker } = lease;
    const prompt = render(lease, req.messages);
    const info = c.get("info");
    return sse(c, lease, async (send, signal) => {
      const gen = generateOptions(req, defaults, signal);
      const result = await runCompletion(worker.engine, prompt, gen, [], (token) => {
        send(JSON.stringify({ token, gpu: worker.id }));
      });
      info.completionTokens = result.completionTokens;
      send(JSON.stringify({ done: true }));
    }, prompt.length);
  });

  app.post("/v1/chat/completions", async (c) => {
    const req = parseOpenAIRequest(await readJson(c));
    const model = catalog.resolve(req.model).id;
    const lease = await acquire(c, model);
    if (lease instanceof Response) return lease;
    const { worker, pool } = lease;
    const prompt = render(lease, req.messages);
    const info = c.get("info");
    const id = `chatcmpl-${crypto.randomUUID().replaceAll("-", "")}`;
    const created = Math.floor(Date.now() / 1000);
    const base = { id, object: "chat.completion.chunk", created, model };
    const usage = (completion: number) => ({
      prompt_tokens: prompt.length,
      completion_tokens: completion,
      total_tokens: prompt.length + completion,
    });

    if (!req.stream) {
      info.promptTokens = prompt.length;
      info.genStart = performance.now();
      try {
        const result = await runCompletion(
          worker.engine,
          prompt,
          generateOptions(req, defaults, c.req.raw.signal),
          req.stop,
        );
        info.completionTokens = result.completionTokens;
        return c.json({
          id,
          object: "chat.completion",
          created,
          model,
          choices: [{
            index: 0,
            message: { role: "assistant", content: result.text, refusal: null },
            finish_reason: result.finish === "length" ? "length" : "stop",
          }],
          usage: usage(result.completionTokens),
        });
      } finally {
        info.genEnd = performance.now();
        pool.release(worker);
      }
    }

    return sse(c, lease, async (send, signal) => {
      const chunk = (delta: Record<string, string>, finish: string | null) =>
        send(JSON.stringify({ ...base, choices: [{ index: 0, delta, finish_reason: finish }] }));
      chunk({ role: "assistant", content: "" }, null);
      const gen = generateOptions(req, defaults, signal);
      const result = await runCompletion(
        worker.engine,
        prompt,
        gen,
        req.stop,
        (content) => chunk({ content }, null),
      );
      info.completionTokens = result.completionTokens;
      if (result.finish === "aborted") return;
      chunk({}, result.finish === "length" ? "length" : "stop");
      if (req.includeUsage) {
        send(JSON.stringify({ ...base, choices: [], usage: usage(result.completionTokens) }));
      }
      send("[DONE]");
    }, prompt.length);
  });

  app.notFound((c) => errorResponse(c, 404, `no route for ${c.req.method} ${c.req.path}`));
  app.onError((err, c) => {
    if (err instanceof RequestError) return errorResponse(c, 400, err.message, { param: err.param });
    if (err instanceof ModelNotFoundError) {
      return errorResponse(c, 404, err.message, { param: "model", code: "model_not_found" });
    }
    if (err instanceof ModelLoadError) {
      log(`error: ${err.message}`);
      return errorResponse(c, 500, err.message, { code: "model_load_failed" });
    }
    if (err instanceof UserError) return errorResponse(c, 400, err.message);
    log(`error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    return errorResponse(c, 500, "internal server error");
  });

  /** Waits for a worker of `model`; a Response when none can be had (busy, or the client left). */
  async function acquire(c: Context<Env>, model: string): Promise<Lease | Response> {
    try {
      return await catalog.acquire(model, c.req.raw.signal);
    } catch (err) {
      if (err instanceof QueueFullError || err instanceof ModelsBusyError) {
        c.header("Retry-After", String(retryAfter));
        return errorResponse(c, 503, err.message, { type: "server_error", code: "server_busy" });
      }
      if (err instanceof ModelLoadError) throw err;
      return errorResponse(c, 499, "the client closed the request");
    }
  }

  /** An SSE response running `run` on `worker`; frees the worker when done or when the client leaves. */
  function sse(
    c: Context<Env>,
    { worker, pool }: Lease,
    run: (send: (data: string) => void, signal: AbortSignal) => Promise<void>,
    promptTokens: number,
  ): Response {
    const info = c.get("info");
    info.deferred = true;
    info.promptTokens = promptTokens;
    info.genStart = performance.now();
    const abort = new AbortController();
    // the client going away cancels the body stream (Deno's request.signal also fires on success)
    const encoder = new TextEncoder();
    let closed = false;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const send = (data: string) => {
          if (closed) return;
          try {
            controller.enqueue(encoder.encode(`data: ${data}\n\n`));
          } catch {
            closed = true;
          }
        };
        run(send, abort.signal)
          .catch((err) => log(`error while streaming: ${err instanceof Error ? err.message : String(err)}`))
          .finally(() => {
            pool.release(worker);
            info.genEnd = performance.now();
            info.ended = true;
            info.log?.();
            if (!closed) {
              closed = true;
              try {
                controller.close();
              } catch { /* already closed by the client */ }
            }
          });
      },
      cancel() {
        closed = true;
        abort.abort();
      },
    });
    return new Response(body, { headers: SSE_HEADERS });
  }

  return app;
}

/** A worker and the pool to give it back to. */
interface Lease {
  worker: Worker;
  pool: WorkerPool;
}

/** The prompt's tokens; a conversation the chat format refuses releases the worker and rethrows. */
function render({ worker, pool }: Lease, messages: Message[]): number[] {
  try {
    return renderForCompletion(worker.engine.tokenizer, {
      messages: [...messages, { role: "assistant", content: "" }],
    });
  } catch (err) {
    pool.release(worker);
    throw err;
  }
}

function generateOptions(
  req: SamplingRequest,
  defaults: SamplingDefaults,
  signal: AbortSignal,
): GenerateOptions {
  return {
    temperature: req.temperature ?? defaults.temperature,
    topK: req.topK ?? defaults.topK,
    maxTokens: req.maxTokens ?? defaults.maxTokens,
    seed: req.seed ?? Math.floor(Math.random() * 2 ** 31),
    signal,
  };
}

async function readJson(c: Context<Env>): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    throw new RequestError("the request body is not valid JSON");
  }
}

/** An error in the route's protocol: OpenAI's {error: {message, type, param, code}} under /v1, else {error}. */
function errorResponse(
  c: Context,
  status: number,
  message: string,
  extra: { type?: string; param?: string | null; code?: string | null } = {},
): Response {
  const body = c.req.path.startsWith("/v1/")
    ? {
      error: {
        message,
        type: extra.type ?? (status >= 500 ? "server_error" : "invalid_request_error"),
        param: extra.param ?? null,
        code: extra.code ?? null,
      },
    }
    : { error: message };
  // deno-lint-ignore no-explicit-any
  return c.json(body, status as any);
}

/** Compares secrets in time independent of where they differ. */
function safeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}
