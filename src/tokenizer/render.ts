// Chat conversations to token ids and a training mask, with nanochat's exact rules.
//
// Mask 1 marks the tokens the assistant is trained to produce (its text, its tool calls and
// <|assistant_end|>); everything the model is given (bos, user turns, tool output) has mask 0.
import { UserError } from "../common/errors.ts";
import type { Tokenizer } from "./tokenizer.ts";

export interface MessagePart {
  type: "text" | "python" | "python_output";
  text: string;
}

export interface Message {
  role: "system" | "user" | "assistant";
  content: string | MessagePart[];
}

export interface Conversation {
  messages: Message[];
}

export interface Rendered {
  ids: number[];
  mask: number[];
}

/** Renders a conversation; ids and mask are truncated to `maxTokens` (nanochat's default 2048). */
export function renderConversation(tok: Tokenizer, conversation: Conversation, maxTokens = 2048): Rendered {
  const messages = normalizeMessages(conversation);
  const ids: number[] = [];
  const mask: number[] = [];
  const add = (tokens: number | number[], m: 0 | 1) => {
    for (const t of typeof tokens === "number" ? [tokens] : tokens) {
      ids.push(t);
      mask.push(m);
    }
  };
  const sp = (name: string) => tok.encodeSpecial(name);

  add(tok.bosId, 0);
  messages.forEach((message, i) => {
    const expected = i % 2 === 0 ? "user" : "assistant";
    if (message.role !== expected) {
      throw new UserError(
        `message ${i} has role "${message.role}" but "${expected}" was expected: ` +
          `after an optional leading system message, roles must alternate user, assistant, user, ...`,
      );
    }
    const content = message.content;
    if (message.role === "user") {
      if (typeof content !== "string") throw new UserError(`message ${i}: user content must be a string`);
      add(sp("<|user_start|>"), 0);
      add(tok.encode(content), 0);
      add(sp("<|user_end|>"), 0);
      return;
    }
    add(sp("<|assistant_start|>"), 0);
    if (typeof content === "string") {
      add(tok.encode(content), 1);
    } else if (Array.isArray(content)) {
      content.forEach((part, j) => renderPart(tok, part, `message ${i} part ${j}`, add));
    } else {
      throw new UserError(`message ${i}: assistant content must be a string or a list of parts`);
    }
    add(sp("<|assistant_end|>"), 1);
  });
  return { ids: ids.slice(0, maxTokens), mask: mask.slice(0, maxTokens) };
}

/** Ids that prime the model to answer: the conversation minus its last (assistant) turn, then <|assistant_start|>. */
export function renderForCompletion(tok: Tokenizer, conversation: Conversation, maxTokens = 2048): number[] {
  const messages = conversation.messages ?? [];
  const last = messages[messages.length - 1];
  if (!last || last.role !== "assistant") {
    throw new UserError("the last message must be from the assistant (it is replaced by the completion)");
  }
  const { ids } = renderConversation(tok, { messages: messages.slice(0, -1) }, maxTokens);
  ids.push(tok.encodeSpecial("<|assistant_start|>"));
  return ids;
}

function renderPart(
  tok: Tokenizer,
  part: MessagePart,
  where: string,
  add: (t: number | number[], m: 0 | 1) => void,
): void {
  if (typeof part?.text !== "string") throw new UserError(`${where}: a part needs a string "text"`);
  const value = tok.encode(part.text);
  switch (part.type) {
    case "text":
      add(value, 1);
      break;
    case "python": // the model writes the tool call, so it is supervised
      add(tok.encodeSpecial("<|python_start|>"), 1);
      add(value, 1);
      add(tok.encodeSpecial("<|python_end|>"), 1);
      break;
    case "python_output": // the tool writes the output, so it is not
      add(tok.encodeSpecial("<|output_start|>"), 0);
      add(value, 0);
      add(tok.encodeSpecial("<|output_end|>"), 0);
      break;
    default:
      throw new UserError(`${where}: unknown part type ${JSON.stringify((part as { type: unknown }).type)}`);
  }
}

// A leading system message is merged into the first user message, as nanochat does.
function normalizeMessages(conversation: Conversation): Message[] {
  const messages = conversation?.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new UserError("a conversation needs at least one message");
  }
  for (const [i, m] of messages.entries()) {
    if (!m || typeof m !== "object" || !["system", "user", "assistant"].includes(m.role)) {
      throw new UserError(`message ${i} needs a role of "system", "user" or "assistant"`);
    }
  }
  if (messages[0].role !== "system") return messages;
  const [system, first, ...rest] = messages;
  if (!first || first.role !== "user") {
    throw new UserError("a system message must be followed by a user message");
  }
  if (typeof system.content !== "string" || typeof first.content !== "string") {
    throw new UserError("system and user message contents must be strings");
  }
  return [{ role: "user", content: `${system.content}\n\n${first.content}` }, ...rest];
}
