// HumanEval: 164 Python functions to complete, graded by running the dataset's tests on the completion in
// the code sandbox (src/eval/sandbox.ts; the caller passes the runner, so tasks/ stays below src/eval/).
// Online: openai/openai_humaneval; offline: the same rows from openai/human-eval.
import { type EvalType, RowsTask, type TaskConversation, type TaskSlice } from "./task.ts";
import { loadShuffledRows, str } from "./rows.ts";
import type { TaskDataOptions } from "./source.ts";

export interface HumanEvalRow {
  task_id: string;
  prompt: string;
  canonical_solution: string;
  test: string;
  entry_point: string;
}

/** Runs a Python program; resolves true when it exits cleanly (no exception, in time). */
export type PythonRunner = (program: string) => Promise<boolean>;

/** Options of HumanEval.load. */
export interface HumanEvalOptions extends TaskSlice, TaskDataOptions {
  /** How programs are run (the sandbox); evaluate() needs it. */
  run?: PythonRunner;
}

/** The import lines at the top of a prompt (comments and blank lines skipped, stops at other code). */
export function extractImports(prompt: string): string {
  const imports: string[] = [];
  for (const line of prompt.split("\n")) {
    const s = line.trim();
    if (s.startsWith("import ") || s.startsWith("from ")) imports.push(s);
    else if (s && !s.startsWith("#")) break;
  }
  return imports.join("\n");
}

/** The first ```python (or bare ```) block of a completion, else the whole completion, stripped. */
export function extractProgram(completion: string): string {
  const m = /```(?:python)?\s*\n([\s\S]*?)\n```/.exec(completion);
  return (m ? m[1] : completion).trim();
}

/** The program nanochat runs to grade a completion: imports, the code, the tests, check(entry_point). */
export function humanEvalProgram(conversation: TaskConversation, completion: string): string {
  const prompt = conversation.messages[0].content as string;
  return `${extractImports(prompt)}\n\n${
    extractProgram(completion)
  }\n\n${conversation.test}\ncheck(${conversation.entryPoint})`;
}

/** HumanEval as a generative task. */
export class HumanEval extends RowsTask<HumanEvalRow> {
  readonly name = "HumanEval";
  readonly #run: PythonRunner | undefined;

  constructor(rows: HumanEvalRow[], slice?: TaskSlice, run?: PythonRunner) {
    super(rows, slice);
    this.#run = run;
  }

  /** Loads the test split (shuffled with seed 42, as nanochat). */
  static async load(o: HumanEvalOptions = {}): Promise<HumanEval> {
    const fromRow = (r: Record<string, unknown>): HumanEvalRow => ({
      task_id: str(r, "task_id"),
      prompt: str(r, "prompt"),
      canonical_solution: str(r, "canonical_solution"),
      test: str(r, "test"),
      entry_point: str(r, "entry_point"),
    });
    const rows = await loadShuffledRows<HumanEvalRow>({
      hub: { repo: "openai/openai_humaneval", subset: "openai_humaneval", split: "test" },
      fromHub: fromRow,
      offline: { file: "HumanEval.jsonl", fromFile: fromRow },
    }, o);
    return new HumanEval(rows, o, o.run);
  }

  override get evalType(): EvalType {
    return "generative";
  }

  example(index: number): TaskConversation {
    const row = this.rows[index];
    return {
      messages: [
        { role: "user", content: row.prompt },
        { role: "assistant", content: `${row.prompt}\n${row.canonical_solution}` },
      ],
      entryPoint: row.entry_point,
      test: row.test,
    };
  }

  override evaluate(conversation: TaskConversation, completion: string): Promise<boolean> {
    if (!this.#run) {
      return Promise.reject(new Error("HumanEval.evaluate needs a Python runner (the sandbox)"));
    }
    return this.#run(humanEvalProgram(conversation, completion));
  }
}
