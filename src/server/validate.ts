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
  /** The model to answer (an extension of nanochat's protocol: the web UI's stage picker); default: the server's. */
  model?: string;
}

export interface OpenAIRequest extends SamplingRequest {
  model: string;
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
    const got = typeof v === "number" ? String(v) : `a ${Array.isArray(v) ? "list" : typeof v}`;
    throw new RequestError(`${key} must be a finite ${integer ? "integer" : "number"}, got ${got}`, key);
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
  if (present(body, "model") && typeof body.model !== "string") {
    throw new RequestError("model must be a string", "model");
  }
  return { messages, model: body.model as string | undefined, ...sampling(body, "max_tokens") };
}

/** Kinds of content parts OpenAI defines that a text-only model cannot read. */
const NON_TEXT_PARTS: Record<string, string> = {
  image_url: "images",
  input_audio: "audio",
  file: "files",
  refusal: "refusal parts",
};

/** Text of an OpenAI message content: a string, or a non-empty list of {type: "text", text} parts. */
function contentText(content: unknown, i: number, role: string): string {
  const param = `messages[${i}].content`;
  if (typeof content === "string") return content;
  if (content === null || content === undefined) {
    throw new RequestError(
      `messages[${i}].content is required for a ${role} message (got ${content === null ? "null" : "none"})`,
      param,
    );
  }
  if (!Array.isArray(content)) {
    throw new RequestError(`messages[${i}].content must be a string or an array of content parts`, param);
  }
  if (content.length === 0) {
    throw new RequestError(`messages[${i}].content must not be an empty array`, param);
  }
  return content.map((part, j) => {
    const where = `${param}[${j}]`;
    if (!isObject(part) || typeof part.type !== "string") {
      throw new RequestError(`${where} must be an object with a "type"`, where);
    }
    if (part.type in NON_TEXT_PARTS) {
      throw new RequestError(
        `${where} is a "${part.type}" part: this model reads text only, so ${NON_TEXT_PARTS[part.type]} ` +
          `cannot be sent; use {"type": "text", "text": "..."} parts`,
        `${where}.type`,
      );
    }
    if (part.type !== "text") {
      throw new RequestError(`${where} has unknown type "${part.type}": use "text"`, `${where}.type`);
    }
    if (typeof part.text !== "string") {
      throw new RequestError(`${where}.text must be a string`, `${where}.text`);
    }
    return part.text;
  }).join("");
}

/** Top-level fields accepted and ignored: they change nothing a text-only model without tools produces. */
const IGNORED_FIELDS = new Set([
  "top_p",
  "frequency_penalty",
  "presence_penalty",
  "user",
  "store",
  "metadata",
  "service_tier",
  "parallel_tool_calls",
  "prompt_cache_key",
  "safety_identifier",
  "tool_choice",
  "modalities",
]);
/** Fields with a meaning this server cannot honor: refused when set to anything but their neutral value. */
const UNSUPPORTED: Record<string, (v: unknown) => boolean> = {
  tools: (v) => Array.isArray(v) && v.length === 0,
  functions: (v) => Array.isArray(v) && v.length === 0,
  function_call: (v) => v === "none",
  logprobs: (v) => v === false,
  top_logprobs: (v) => v === 0,
  logit_bias: (v) => isObject(v) && Object.keys(v).length === 0,
  response_format: (v) => isObject(v) && v.type === "text",
  audio: () => false,
  prediction: () => false,
  reasoning_effort: () => false,
  web_search_options: () => false,
};
const HANDLED_FIELDS = new Set([
  "model",
  "messages",
  "max_tokens",
  "max_completion_tokens",
  "temperature",
  "top_k",
  "seed",
  "stop",
  "n",
  "stream",
  "stream_options",
]);

function checkFields(body: Json): void {
  for (const key of Object.keys(body)) {
    if (body[key] === null || HANDLED_FIELDS.has(key) || IGNORED_FIELDS.has(key)) continue;
    const neutral = UNSUPPORTED[key];
    if (neutral === undefined) throw new RequestError(`Unrecognized request argument supplied: ${key}`, key);
    if (!neutral(body[key])) throw new RequestError(`${key} is not supported by this server`, key);
  }
  numberIn(body, "top_p", 0, 1, false);
  numberIn(body, "frequency_penalty", -2, 2, false);
  numberIn(body, "presence_penalty", -2, 2, false);
  if (present(body, "user") && typeof body.user !== "string") {
    throw new RequestError("user must be a string", "user");
  }
}

/**
 * Validates an OpenAI chat completion request as OpenAI does: `model` (a string) and `messages` are required;
 * system/developer, user and assistant messages need a content (a string, or text parts: image, audio and
 * file parts are refused); numbers must be finite and in range; unknown fields are refused. Supported:
 * max_tokens / max_completion_tokens, temperature, top_k (extension), seed, stop, n = 1, stream,
 * stream_options.include_usage. Accepted and ignored: top_p, frequency/presence penalties, user, store,
 * metadata and the other fields in IGNORED_FIELDS. Tools, logprobs, logit_bias and JSON modes are refused.
 */
export function parseOpenAIRequest(body: unknown): OpenAIRequest {
  if (!isObject(body)) throw new RequestError("the request body must be a JSON object");
  if (!present(body, "model")) throw new RequestError("you must provide a model parameter", "model");
  if (typeof body.model !== "string") throw new RequestError("model must be a string", "model");
  checkMessageCount(body.messages);
  const messages = body.messages.map((m, i): Message => {
    if (!isObject(m)) throw new RequestError(`messages[${i}] must be an object`, `messages[${i}]`);
    if (m.role === "tool" || m.role === "function") {
      throw new RequestError(
        `messages[${i}] has role "${m.role}": this server has no tools, so tool messages cannot be sent`,
        `messages[${i}].role`,
      );
    }
    const role = m.role === "developer" ? "system" : m.role;
    if (role !== "system" && role !== "user" && role !== "assistant") {
      throw new RequestError(
        `messages[${i}] has role ${JSON.stringify(m.role)}: use "system", "user" or "assistant"`,
        `messages[${i}].role`,
      );
    }
    if (present(m, "tool_calls") && !(Array.isArray(m.tool_calls) && m.tool_calls.length === 0)) {
      throw new RequestError(
        `messages[${i}] has tool_calls: this server has no tools`,
        `messages[${i}].tool_calls`,
      );
    }
    if (present(m, "name") && typeof m.name !== "string") {
      throw new RequestError(`messages[${i}].name must be a string`, `messages[${i}].name`);
    }
    return { role, content: contentText(m.content, i, String(m.role)) };
  });
  checkLengths(messages);
  checkFields(body);
  if (present(body, "n")) {
    numberIn(body, "n", 1, 128, true);
    if (body.n !== 1) throw new RequestError("only n = 1 is supported", "n");
  }
  if (present(body, "stream") && typeof body.stream !== "boolean") {
    throw new RequestError("stream must be a boolean", "stream");
  }
  const streamOptions = body.stream_options;
  if (present(body, "stream_options")) {
    if (!isObject(streamOptions)) {
      throw new RequestError("stream_options must be an object", "stream_options");
    }
    if (body.stream !== true) {
      throw new RequestError("stream_options is only allowed when stream is true", "stream_options");
    }
    if (present(streamOptions, "include_usage") && typeof streamOptions.include_usage !== "boolean") {
      throw new RequestError(
        "stream_options.include_usage must be a boolean",
        "stream_options.include_usage",
      );
    }
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
  return {
    model: body.model,
    messages,
    stream: body.stream === true,
    includeUsage: isObject(streamOptions) && streamOptions.include_usage === true,
    stop,
    ...sampling(body, maxKey),
  };
}
