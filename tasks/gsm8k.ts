// GSM8K: grade-school math word problems, graded by the number after "#### ". The reference solutions'
// calculator annotations `<<expr=result>>` become a python part (expr) and a python_output part (result),
// so SFT teaches the model to call the calculator tool. Online: openai/gsm8k; offline: the same
// question/answer rows from openai/grade-school-math (identical fields).
import type { MessagePart } from "../src/tokenizer/render.ts";
import { type EvalType, extractHashAnswer, RowsTask, type TaskConversation, type TaskSlice } from "./task.ts";
import { loadShuffledRows, str } from "./rows.ts";
import type { TaskDataOptions } from "./source.ts";

export interface Gsm8kRow {
  question: string;
  answer: string;
}

/** Options of GSM8K.load. */
export interface Gsm8kOptions extends TaskSlice, TaskDataOptions {
  subset?: "main" | "socratic";
  split: "train" | "test";
}

/** nanochat's conversion of a reference answer into assistant parts. */
export function gsm8kParts(answer: string): MessagePart[] {
  const parts: MessagePart[] = [];
  for (const piece of answer.split(/(<<[^>]+>>)/)) {
    if (piece.startsWith("<<") && piece.endsWith(">>")) {
      const inner = piece.slice(2, -2);
      const eq = inner.lastIndexOf("=");
      const [expr, result] = eq >= 0 ? [inner.slice(0, eq), inner.slice(eq + 1)] : [inner, ""];
      parts.push({ type: "python", text: expr }, { type: "python_output", text: result });
    } else {
      parts.push({ type: "text", text: piece });
    }
  }
  return parts;
}

/** The reference answer's number: the "#### " line of the last text part. */
function referenceAnswer(conversation: TaskConversation): string | null {
  const last = conversation.messages.at(-1)!;
  if (last.role !== "assistant" || !Array.isArray(last.content)) {
    throw new RangeError("the last message must be the assistant's list of parts");
  }
  return extractHashAnswer(last.content.at(-1)!.text);
}

/** Shared grading of "#### n" tasks (GSM8K, SpellingBee): exact match of the extracted numbers. */
export function gradeHashAnswer(conversation: TaskConversation, completion: string): boolean {
  return extractHashAnswer(completion) === referenceAnswer(conversation);
}

/** GSM8K as a generative task, with an RL reward. */
export class GSM8K extends RowsTask<Gsm8kRow> {
  readonly name = "GSM8K";

  constructor(rows: Gsm8kRow[], slice?: TaskSlice) {
    super(rows, slice);
  }

  /** Loads a split (shuffled with seed 42, as nanochat). */
  static async load(o: Gsm8kOptions): Promise<GSM8K> {
    const subset = o.subset ?? "main";
    if (o.split !== "train" && o.split !== "test") throw new RangeError(`GSM8K split must be train|test`);
    const fromRow = (r: Record<string, unknown>) => ({
      question: str(r, "question"),
      answer: str(r, "answer"),
    });
    const rows = await loadShuffledRows<Gsm8kRow>({
      hub: { repo: "openai/gsm8k", subset, split: o.split },
      fromHub: fromRow,
      offline: subset === "main"
        ? { file: `gsm8k_${o.split}.jsonl`, fromFile: fromRow }
        : { unavailable: "only the main subset is offline" },
    }, o);
    return new GSM8K(rows, o);
  }

  override get evalType(): EvalType {
    return "generative";
  }

  example(index: number): TaskConversation {
    const row = this.rows[index];
    return {
      messages: [
        { role: "user", content: row.question },
        { role: "assistant", content: gsm8kParts(row.answer) },
      ],
    };
  }

  override evaluate(conversation: TaskConversation, completion: string): Promise<boolean> {
    return Promise.resolve(gradeHashAnswer(conversation, completion));
  }

  /** RL reward: 1 when the "#### " answer matches, else 0 (nanochat's reward). */
  reward(conversation: TaskConversation, completion: string): number {
    return gradeHashAnswer(conversation, completion) ? 1 : 0;
  }
}
