// SmolTalk (HuggingFaceTB/smol-smoltalk): general chat conversations for mid-training and SFT, with an
// optional leading system message. Online: the real dataset (train ~460K, test ~24K rows). Offline it is
// NOT available; stand-ins are used instead, with the same {"messages": [...]} shape:
//   train -> dolly15k.jsonl (databricks-dolly-15k, 15,015 single-turn human-written conversations),
//   test  -> oasst1_en_validation_top1.jsonl (188 OpenAssistant conversations, 2-6 messages).
// So offline mixtures have far fewer and different general-chat rows than nanochat's.
import type { Message } from "../src/tokenizer/render.ts";
import { RowsTask, type TaskConversation, type TaskSlice } from "./task.ts";
import { loadShuffledRows, RowError } from "./rows.ts";
import type { TaskDataOptions } from "./source.ts";

/** Options of SmolTalk.load. */
export interface SmolTalkOptions extends TaskSlice, TaskDataOptions {
  split: "train" | "test";
}

/** Checks nanochat's conversation rules: optional system message, then user/assistant alternating strings. */
export function checkMessages(value: unknown, minMessages = 2): Message[] {
  if (!Array.isArray(value)) throw new RowError("messages must be a list");
  const rest = value[0]?.role === "system" ? value.slice(1) : value;
  if (rest.length < minMessages) throw new RowError(`a conversation needs at least ${minMessages} messages`);
  rest.forEach((m, i) => {
    const expected = i % 2 === 0 ? "user" : "assistant";
    if (!m || m.role !== expected) throw new RowError(`message ${i} must have role ${expected}`);
    if (typeof m.content !== "string") throw new RowError(`message ${i} content must be a string`);
  });
  if (rest.length !== value.length && typeof value[0].content !== "string") {
    throw new RowError("the system message content must be a string");
  }
  return value.map((m) => ({ role: m.role, content: m.content }));
}

/** SmolTalk as a training task. */
export class SmolTalk extends RowsTask<Message[]> {
  readonly name = "SmolTalk";

  /** Loads a split (shuffled with seed 42, as nanochat). */
  static async load(o: SmolTalkOptions): Promise<SmolTalk> {
    if (o.split !== "train" && o.split !== "test") throw new RangeError("SmolTalk split must be train|test");
    const fromRow = (r: Record<string, unknown>) => checkMessages(r.messages);
    const rows = await loadShuffledRows<Message[]>({
      hub: { repo: "HuggingFaceTB/smol-smoltalk", subset: "default", split: o.split },
      fromHub: fromRow,
      offline: {
        file: o.split === "train" ? "dolly15k.jsonl" : "oasst1_en_validation_top1.jsonl",
        fromFile: fromRow,
      },
    }, o);
    return new SmolTalk(rows, o);
  }

  example(index: number): TaskConversation {
    return { messages: this.rows[index] };
  }
}
