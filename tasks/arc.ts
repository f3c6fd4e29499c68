// ARC (AI2 Reasoning Challenge), Easy and Challenge: 4-ish-choice science questions, graded by the letter.
// Online: allenai/ai2_arc (train, validation, test), as nanochat. Offline: only the test splits exist, in
// llm-foundry's format ({"query": "Question: ...", "choices", "gold"}); the question loses its "Question: "
// prefix and the letters are A-D by position, because the original labels are not in that file.
import { LetterTask, renderMc, type TaskConversation, type TaskSlice } from "./task.ts";
import { int, loadShuffledRows, RowError, str, strList } from "./rows.ts";
import type { TaskDataOptions } from "./source.ts";

/** One ARC row, in the hub's shape. */
export interface ArcRow {
  question: string;
  choices: { text: string[]; label: string[] };
  answerKey: string;
}

export type ArcSubset = "ARC-Easy" | "ARC-Challenge";
export type ArcSplit = "train" | "validation" | "test";

const LETTERS = ["A", "B", "C", "D", "E", "F", "G", "H"];

/** Options of ARC.load. */
export interface ArcOptions extends TaskSlice, TaskDataOptions {
  subset: ArcSubset;
  split: ArcSplit;
}

/** ARC-Easy / ARC-Challenge as a categorical task. */
export class ARC extends LetterTask<ArcRow> {
  readonly name: string;

  constructor(subset: ArcSubset, rows: ArcRow[], slice?: TaskSlice) {
    super(rows, slice);
    this.name = subset;
  }

  /** Loads a split (shuffled with seed 42, as nanochat). */
  static async load(o: ArcOptions): Promise<ARC> {
    if (o.subset !== "ARC-Easy" && o.subset !== "ARC-Challenge") {
      throw new RangeError(`ARC subset must be ARC-Easy or ARC-Challenge, got ${o.subset}`);
    }
    const file = o.subset === "ARC-Easy" ? "arc_easy.jsonl" : "arc_challenge.jsonl";
    const rows = await loadShuffledRows<ArcRow>({
      hub: { repo: "allenai/ai2_arc", subset: o.subset, split: o.split },
      fromHub: (r) => {
        const c = r.choices as Record<string, unknown> | undefined;
        if (!c || typeof c !== "object") throw new RowError('field "choices" must be an object');
        return {
          question: str(r, "question"),
          choices: { text: strList(c, "text"), label: strList(c, "label") },
          answerKey: str(r, "answerKey"),
        };
      },
      offline: o.split === "test"
        ? {
          file,
          fromFile: (r) => {
            const choices = strList(r, "choices");
            const gold = int(r, "gold");
            if (gold < 0 || gold >= choices.length) throw new RowError(`gold ${gold} is not a choice index`);
            const label = LETTERS.slice(0, choices.length);
            return {
              question: str(r, "query").replace(/^Question: /, ""),
              choices: { text: choices, label },
              answerKey: label[gold],
            };
          },
        }
        : { unavailable: "the offline ARC files hold the test splits only" },
    }, o);
    return new ARC(o.subset, rows, o);
  }

  example(index: number): TaskConversation {
    const row = this.rows[index];
    const letters = row.choices.label;
    if (!letters.includes(row.answerKey)) {
      throw new RangeError(`ARC answer ${row.answerKey} must be one of ${letters.join(",")}`);
    }
    return {
      messages: [
        { role: "user", content: renderMc(row.question, letters, row.choices.text) },
        { role: "assistant", content: row.answerKey },
      ],
      letters,
    };
  }
}
