// MMLU: 57 subjects of 4-choice questions, graded by the letter A-D. Online: cais/mmlu, subset "all"
// (test, validation, dev, auxiliary_train). nanochat version A asked for subset "auxiliary_train" split
// "train"; that is the same rows as "all"/auxiliary_train, which is what is downloaded (a `train` wrapper
// column, as the old layout had, is unwrapped). Offline: test, validation and dev are complete, but
// auxiliary_train is PARTIAL: 1,218 of its 99,842 rows (2 of the 8 source CSVs), enough to exercise the
// code path, not to reproduce nanochat's midtraining mix.
import { LetterTask, renderMc, type TaskConversation, type TaskSlice } from "./task.ts";
import { int, loadShuffledRows, RowError, str, strList } from "./rows.ts";
import type { TaskDataOptions } from "./source.ts";

/** One MMLU row, in the hub's shape. */
export interface MmluRow {
  question: string;
  subject: string;
  choices: string[];
  answer: number;
}

export type MmluSubset = "all" | "auxiliary_train";
export type MmluSplit = "train" | "validation" | "dev" | "test" | "auxiliary_train";

/** Options of MMLU.load. */
export interface MmluOptions extends TaskSlice, TaskDataOptions {
  subset: MmluSubset;
  split: MmluSplit;
}

const LETTERS = ["A", "B", "C", "D"] as const;

const OFFLINE_FILES: Record<string, string> = {
  test: "mmlu_test.jsonl",
  validation: "mmlu_validation.jsonl",
  dev: "mmlu_dev.jsonl",
  auxiliary_train: "mmlu_auxiliary_train_partial.jsonl",
};

function mmluRow(r: Record<string, unknown>): MmluRow {
  const inner = r.train && typeof r.train === "object" ? r.train as Record<string, unknown> : r;
  const choices = strList(inner, "choices");
  if (choices.length !== 4) throw new RowError("MMLU rows must have 4 choices");
  const answer = int(inner, "answer");
  if (answer < 0 || answer > 3) throw new RowError(`answer ${answer} is not in 0-3`);
  return { question: str(inner, "question"), subject: str(inner, "subject"), choices, answer };
}

/** MMLU as a categorical task. */
export class MMLU extends LetterTask<MmluRow> {
  readonly name = "MMLU";

  /** Loads a split (shuffled with seed 42, as nanochat). */
  static async load(o: MmluOptions): Promise<MMLU> {
    if (o.subset !== "all" && o.subset !== "auxiliary_train") {
      throw new RangeError(`MMLU subset must be all|auxiliary_train, got ${o.subset}`);
    }
    if (o.subset === "auxiliary_train" && o.split !== "train") {
      throw new RangeError("MMLU auxiliary_train must be split train");
    }
    const split = o.subset === "auxiliary_train" ? "auxiliary_train" : o.split;
    if (!(split in OFFLINE_FILES)) {
      throw new RangeError(`MMLU split must be validation|dev|test, got ${o.split}`);
    }
    const rows = await loadShuffledRows<MmluRow>({
      hub: { repo: "cais/mmlu", subset: "all", split },
      fromHub: mmluRow,
      offline: { file: OFFLINE_FILES[split], fromFile: mmluRow },
    }, o);
    return new MMLU(rows, o);
  }

  example(index: number): TaskConversation {
    const row = this.rows[index];
    return {
      messages: [
        { role: "user", content: renderMc(row.question, LETTERS, row.choices) },
        { role: "assistant", content: LETTERS[row.answer] },
      ],
      subject: row.subject,
      letters: LETTERS,
    };
  }
}
