// CustomJSON: conversations from a JSON-lines file, e.g. nanochat's identity conversations. A line is a
// bare JSON list of messages (nanochat's format) or {"messages": [...]} (the offline copies' format);
// messages must alternate user/assistant from the user, with string contents. Offline there are two
// identity files: identity_conversations.jsonl is the 2026 version (what nanochat's URL serves now),
// identity_conversations_2025.jsonl the Oct 2025 one that version A's midtraining used.
import { UserError } from "../src/common/errors.ts";
import type { Message } from "../src/tokenizer/render.ts";
import { checkMessages } from "./smoltalk.ts";
import { RowsTask, type TaskConversation, type TaskSlice } from "./task.ts";
import { RowError } from "./rows.ts";
import { cachedDownload, offlineDir, parseJsonl, type TaskDataOptions } from "./source.ts";
import { join } from "node:path";

/** Where nanochat downloads the identity conversations from. */
export const IDENTITY_URL = "https://karpathy-public.s3.us-west-2.amazonaws.com/identity_conversations.jsonl";

/** Conversations from a JSONL file, in file order (no shuffle, as nanochat). */
export class CustomJSON extends RowsTask<Message[]> {
  readonly name: string;

  constructor(name: string, rows: Message[][], slice?: TaskSlice) {
    super(rows, slice);
    this.name = name;
  }

  /** Reads a JSONL file of conversations; a malformed line is a clear error naming the file and line. */
  static async fromFile(path: string, slice?: TaskSlice): Promise<CustomJSON> {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new UserError(`conversation file ${path} does not exist`);
      }
      throw err;
    }
    const rows = parseJsonl(text, path).map((line, i) => {
      try {
        const messages = Array.isArray(line) ? line : (line as { messages?: unknown })?.messages;
        if (Array.isArray(messages) && messages[0]?.role === "system") {
          throw new RowError("system messages are not allowed");
        }
        return checkMessages(messages);
      } catch (err) {
        if (err instanceof RowError) throw new UserError(`${path} line ${i + 1}: ${err.message}`);
        throw err;
      }
    });
    return new CustomJSON(`CustomJSON(${path.split(/[\\/]/).pop()})`, rows, slice);
  }

  /**
   * nanochat's identity conversations: <base>/identity_conversations.jsonl (downloaded when missing), or
   * the offline folder's copy (`version` "2025" picks the Oct 2025 file).
   */
  static async identity(
    o: TaskSlice & TaskDataOptions & { version?: "2025" | "2026" } = {},
  ): Promise<CustomJSON> {
    const dir = offlineDir(o);
    if (o.version === "2025" && dir === undefined) {
      throw new UserError("the 2025 identity conversations exist only offline: pass --task-data-dir");
    }
    const name = o.version === "2025" ? "identity_conversations_2025.jsonl" : "identity_conversations.jsonl";
    const path = dir !== undefined
      ? join(dir, name)
      : await cachedDownload(IDENTITY_URL, "identity_conversations.jsonl", o);
    return CustomJSON.fromFile(path, o);
  }

  example(index: number): TaskConversation {
    return { messages: this.rows[index] };
  }
}
