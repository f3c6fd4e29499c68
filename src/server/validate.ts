// Request validation for both chat protocols: nanochat's own (/chat/completions) and OpenAI's
// (/v1/chat/completions). Limits follow nanochat's chat_web.
import type { Message } from "../tokenizer/render.ts";

export const LIMITS = {
  maxMessages: 500,
  maxMessageChars: 8000,
  maxTotalChars: 32000,
  maxTemperature: 2,
  maxTopK: 200,
  maxTokens: 4096,
  maxStops: 4,
} as const;

/** Sampling settings a request may override; absent fields take the server's defaults. */
export interface SamplingRequest {
  temperature?: number;
  topK?: number;
  maxTokens?: number;
  seed?: number;
}

export interface NanochatRequest extends SamplingRequest {
  messages: Message[];
}

export interface OpenAIRequest extends SamplingRequest {
  messages: Message[];
  stream: boolean;
  includeUsage: boolean;
  stop: string[];
}

/** A request the server refuses (HTTP 400); `param` names the offending field, as OpenAI does. */
export class RequestError extends Error {
  constructor(message: string, readonly param: string | null = null) {
    super(message);
    this.name = "RequestError";
  }
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function present(body: Json, key: string): boolean {
  return body[key] !== undefined && body[key] !== null;
}

function numberIn(body: Json, key: string, min: number, max: number, integer: boolean): number | undefined {
  if (!present(body, key)) return undefined;
  const v = body[key];
  if (typeof v !== "number" || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new RequestError(`${key} must be ${integer ? "an integer" : "a number"}`, key);
  }
  if (v < min || v > max) throw new RequestError(`${key} must be between ${min} and ${max}`, key);
  return v;
}

function sampling(body: Json, maxTokensKey: string): SamplingRequest {
  return {
    temperature: numberIn(body, "temperature", 0, LIMITS.maxTemperature, false),
    topK: numberIn(body, "top_k", 0, LIMITS.maxTopK, true),
    maxTokens: numberIn(body, maxTokensKey, 1, LIMITS.maxTokens, true),
    seed: numberIn(body, "seed", Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true),
  };
}

function checkMessageCount(messages: unknown): asserts messages is unknown[] {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new RequestError("messages must be a non-empty array", "messages");
  }
  if (messages.length > LIMITS.maxMessages) {
    throw new RequestError(
      `too many messages: ${messages.length} (at most ${LIMITS.maxMessages})`,
      "messages",
    );
  }
}

function checkLengths(messages: Message[]): void {
  let total = 0;
  messages.forEach((m, i) => {
    const n = (m.content as string).length;
    if (n > LIMITS.maxMessageChars) {
      throw new RequestError(
        `message ${i} is too long: ${n} characters (at most ${LIMITS.maxMessageChars})`,
        `messages[${i}].content`,
      );
    }
    total += n;
  });
  if (total > LIMITS.maxTotalChars) {
    throw new RequestError(
      `the conversation is too long: ${total} characters (at most ${LIMITS.maxTotalChars})`,
      "messages",
    );
  }
}

/** Validates nanochat's request: user/assistant messages with non-empty string contents. */
export function parseNanochatRequest(body: unknown): NanochatRequest {
  if (!isObject(body)) throw new RequestError("the request body must be a JSON object");
  checkMessageCount(body.messages);
  const messages = body.messages.map((m, i): Message => {
    if (!isObject(m)) throw new RequestError(`message ${i} must be an object`, `messages[${i}]`);
    if (m.role !== "user" && m.role !== "assistant") {
      throw new RequestError(
        `message ${i} has role ${JSON.stringify(m.role)}: use "user" or "assistant"`,
        `messages[${i}].role`,
      );
    }
    if (typeof m.content !== "string" || m.content.length === 0) {
      throw new RequestError(`message ${i} needs a non-empty string content`, `messages[${i}].content`);
    }
    return { role: m.role, content: m.content };
  });
  checkLengths(messages);
  return { messages, ...sampling(body, "max_tokens") };
}

/** Text of an OpenAI message content: a string, or a list of {type: "text", text} parts. */
function contentText(content: unknown, i: number): string {
  if (typeof content === "string") return content;
  if (content === null || content === undefined) return "";
  if (Array.isArray(content)) {
    return content.map((part, j) => {
      if (!isObject(part) || part.type !== "text" || typeof part.text !== "string") {
        throw new RequestError(
          `message ${i} part ${j}: only {"type": "text", "text": ...} parts are supported`,
          `messages[${i}].content`,
        );
      }
      return part.text;
    }).join("");
  }
  throw new RequestError(
    `message ${i}: content must be a string or a list of text parts`,
    `messages[${i}].content`,
  );
}

/**
 * Validates an OpenAI chat completion request. Supported: messages (system/developer, user, assistant),
 * max_tokens / max_completion_tokens, temperature, top_k (extension), seed, stop, n = 1, stream,
 * stream_options.include_usage. Ignored: model (there is one), top_p and any other field.
 */
export function parseOpenAIRequest(body: unknown): OpenAIRequest {
  if (!isObject(body)) throw new RequestError("the request body must be a JSON object");
  checkMessageCount(body.messages);
  const messages = body.messages.map((m, i): Message => {
    if (!isObject(m)) throw new RequestError(`message ${i} must be an object`, `messages[${i}]`);
    const role = m.role === "developer" ? "system" : m.role;
    if (role !== "system" && role !== "user" && role !== "assistant") {
      throw new RequestError(
        `message ${i} has role ${JSON.stringify(m.role)}: use "system", "user" or "assistant"`,
        `messages[${i}].role`,
      );
    }
    return { role, content: contentText(m.content, i) };
  });
  checkLengths(messages);
  if (present(body, "n") && body.n !== 1) throw new RequestError("only n = 1 is supported", "n");
  if (present(body, "stream") && typeof body.stream !== "boolean") {
    throw new RequestError("stream must be a boolean", "stream");
  }
  let stop: string[] = [];
  if (typeof body.stop === "string") stop = [body.stop];
  else if (Array.isArray(body.stop)) {
    if (body.stop.length > LIMITS.maxStops || !body.stop.every((s) => typeof s === "string")) {
      throw new RequestError(`stop must be a string or a list of at most ${LIMITS.maxStops} strings`, "stop");
    }
    stop = body.stop;
  } else if (present(body, "stop")) {
    throw new RequestError("stop must be a string or a list of strings", "stop");
  }
  const maxKey = present(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  const streamOptions = body.stream_options;
  return {
    messages,
    stream: body.stream === true,
    includeUsage: isObject(streamOptions) && streamOptions.include_usage === true,
    stop,
    ...sampling(body, maxKey),
  };
}
