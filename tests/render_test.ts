// Chat rendering: ids and masks for every part type, the system merge, truncation and rejected inputs.
import { assertEquals, assertThrows } from "@std/assert";
import { UserError } from "../src/common/errors.ts";
import { type Conversation, renderConversation, renderForCompletion } from "../src/tokenizer/render.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { EVAL_TEXTS } from "../src/tokenizer/eval_texts.ts";

const tok = await Tokenizer.train(EVAL_TEXTS.map(([, t]) => t), { vocabSize: 320 });
const sp = (n: string) => tok.encodeSpecial(n);
const enc = (t: string) => tok.encode(t);

Deno.test("user and assistant strings: only the assistant's text and its end token are supervised", () => {
  const conv: Conversation = {
    messages: [{ role: "user", content: "Hello there" }, { role: "assistant", content: "I am fine." }],
  };
  const { ids, mask } = renderConversation(tok, conv);
  const expected = [
    [sp("<|bos|>"), 0],
    [sp("<|user_start|>"), 0],
    ...enc("Hello there").map((t) => [t, 0]),
    [sp("<|user_end|>"), 0],
    [sp("<|assistant_start|>"), 0],
    ...enc("I am fine.").map((t) => [t, 1]),
    [sp("<|assistant_end|>"), 1],
  ];
  assertEquals(ids, expected.map(([t]) => t));
  assertEquals(mask, expected.map(([, m]) => m));
});

Deno.test("tool parts: python call supervised, python output not", () => {
  const conv: Conversation = {
    messages: [
      { role: "user", content: "hi" },
      {
        role: "assistant",
        content: [
          { type: "text", text: "the answer is " },
          { type: "python", text: "2+3" },
          { type: "python_output", text: "5" },
          { type: "text", text: "5." },
        ],
      },
    ],
  };
  const { ids, mask } = renderConversation(tok, conv);
  const start = 1 + 1 + enc("hi").length + 1; // bos, user_start, text, user_end
  const tail = [
    [sp("<|assistant_start|>"), 0],
    ...enc("the answer is ").map((t) => [t, 1]),
    [sp("<|python_start|>"), 1],
    ...enc("2+3").map((t) => [t, 1]),
    [sp("<|python_end|>"), 1],
    [sp("<|output_start|>"), 0],
    ...enc("5").map((t) => [t, 0]),
    [sp("<|output_end|>"), 0],
    ...enc("5.").map((t) => [t, 1]),
    [sp("<|assistant_end|>"), 1],
  ];
  assertEquals(ids.slice(start), tail.map(([t]) => t));
  assertEquals(mask.slice(start), tail.map(([, m]) => m));
});

Deno.test("a leading system message is merged into the first user message", () => {
  const withSystem = renderConversation(tok, {
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: "hi" },
      { role: "assistant", content: "hello" },
    ],
  });
  const merged = renderConversation(tok, {
    messages: [{ role: "user", content: "Be brief.\n\nhi" }, { role: "assistant", content: "hello" }],
  });
  assertEquals(withSystem, merged);
});

Deno.test("truncation cuts ids and mask to max tokens", () => {
  const conv: Conversation = {
    messages: [{ role: "user", content: "Hello there how are you" }, { role: "assistant", content: "fine" }],
  };
  const full = renderConversation(tok, conv);
  const cut = renderConversation(tok, conv, 5);
  assertEquals(cut.ids, full.ids.slice(0, 5));
  assertEquals(cut.mask, full.mask.slice(0, 5));
});

Deno.test("renderForCompletion drops the last assistant turn and primes a new one", () => {
  const conv: Conversation = {
    messages: [{ role: "user", content: "hi" }, { role: "assistant", content: "hello" }],
  };
  const ids = renderForCompletion(tok, conv);
  assertEquals(ids, [
    sp("<|bos|>"),
    sp("<|user_start|>"),
    ...enc("hi"),
    sp("<|user_end|>"),
    sp("<|assistant_start|>"),
  ]);
  assertEquals(conv.messages.length, 2); // the caller's conversation is untouched
  assertThrows(
    () => renderForCompletion(tok, { messages: [{ role: "user", content: "hi" }] }),
    UserError,
    "last message",
  );
});

Deno.test("malformed conversations are rejected with a reason", () => {
  const bad: [unknown, string][] = [
    [{ messages: [] }, "at least one message"],
    [{ messages: [{ role: "assistant", content: "x" }] }, "alternate"],
    [{ messages: [{ role: "user", content: "a" }, { role: "user", content: "b" }] }, "alternate"],
    [{ messages: [{ role: "system", content: "s" }] }, "followed by a user"],
    [
      { messages: [{ role: "system", content: "s" }, { role: "assistant", content: "x" }] },
      "followed by a user",
    ],
    [{ messages: [{ role: "robot", content: "x" }] }, "role"],
    [{ messages: [{ role: "user", content: [{ type: "text", text: "x" }] }] }, "must be a string"],
    [{
      messages: [{ role: "user", content: "a" }, {
        role: "assistant",
        content: [{ type: "image", text: "x" }],
      }],
    }, "unknown part type"],
    [{ messages: [{ role: "user", content: "a" }, { role: "assistant", content: 42 }] }, "string or a list"],
  ];
  for (const [conv, message] of bad) {
    assertThrows(() => renderConversation(tok, conv as Conversation), UserError, message);
  }
});
