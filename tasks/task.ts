// The Task contract (nanochat's tasks/common.py): a dataset of conversations with a logical
// start/stop/step view, an eval type and an evaluate() for graded tasks; TaskMixture and TaskSequence
// combine tasks for training mixtures; renderMc is the shared multiple-choice prompt.
import type { Conversation } from "../src/tokenizer/render.ts";
import { PyRandom } from "./rng.ts";

/** How a task is graded: by the logits of answer letters, or by sampling a completion and checking it. */
export type EvalType = "categorical" | "generative";

/** A conversation plus what grading needs (answer letters, tests, ...). */
export interface TaskConversation extends Conversation {
  /** Categorical tasks: the answer letters the prediction is restricted to. */
  letters?: readonly string[];
  /** MMLU: the subject. */
  subject?: string;
  /** HumanEval: the function `check()` calls. */
  entryPoint?: string;
  /** HumanEval: the test program that defines `check()`. */
  test?: string;
}

/** A logical view of a dataset: examples start, start+step, ... below stop (Python slice semantics). */
export interface TaskSlice {
  start?: number;
  stop?: number;
  step?: number;
}

/** A dataset of conversations. Subclasses give numExamples/example; the view is handled here. */
export abstract class Task {
  readonly start: number;
  readonly stop: number | undefined;
  readonly step: number;

  constructor(slice: TaskSlice = {}) {
    const { start = 0, stop, step = 1 } = slice;
    if (!Number.isInteger(start) || start < 0) throw new RangeError(`start must be >= 0, got ${start}`);
    if (stop !== undefined && (!Number.isInteger(stop) || stop < start)) {
      throw new RangeError(`stop must be >= start (${start}), got ${stop}`);
    }
    if (!Number.isInteger(step) || step < 1) throw new RangeError(`step must be >= 1, got ${step}`);
    this.start = start;
    this.stop = stop;
    this.step = step;
  }

  /** The task's name as chat evaluation and reports show it (e.g. "ARC-Easy"). */
  abstract readonly name: string;

  /** How the task is graded; null for training-only tasks (SmolTalk, CustomJSON, SimpleSpelling). */
  get evalType(): EvalType | null {
    return null;
  }

  /** Examples in the underlying dataset, before the view. */
  abstract numExamples(): number;

  /** Example `index` of the underlying dataset (0 <= index < numExamples()). */
  abstract example(index: number): TaskConversation;

  /** Examples in the view: ceil((min(stop, numExamples) - start) / step). */
  get size(): number {
    // a stop past the end is clamped, as Python's slicing does
    const stop = Math.min(this.stop ?? Infinity, this.numExamples());
    return Math.max(0, Math.ceil((stop - this.start) / this.step));
  }

  /** Example `i` of the view. */
  get(i: number): TaskConversation {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) {
      throw new RangeError(`${this.name}: index ${i} outside [0, ${this.size})`);
    }
    return this.example(this.start + i * this.step);
  }

  /** Grades a completion (the assistant's text, or the chosen letter for categorical tasks). */
  evaluate(_conversation: TaskConversation, _completion: string): Promise<boolean> {
    return Promise.reject(new Error(`${this.name} is a training task and has no evaluation`));
  }
}

/** A task over a loaded list of rows (a dataset split in its shuffled order). */
export abstract class RowsTask<R> extends Task {
  protected readonly rows: readonly R[];

  constructor(rows: readonly R[], slice?: TaskSlice) {
    super(slice);
    this.rows = rows;
  }

  numExamples(): number {
    return this.rows.length;
  }
}

/** A multiple-choice task: graded by the answer letter, which must equal the assistant's reference letter. */
export abstract class LetterTask<R> extends RowsTask<R> {
  override get evalType(): EvalType {
    return "categorical";
  }

  override evaluate(conversation: TaskConversation, letter: string): Promise<boolean> {
    return Promise.resolve(letter === conversation.messages.at(-1)!.content);
  }
}

/** A task whose examples come from other tasks; `locate` maps an index to (task, local index). */
abstract class CompositeTask extends Task {
  readonly tasks: readonly Task[];
  readonly #offsets: number[];

  constructor(tasks: readonly Task[], slice?: TaskSlice) {
    super(slice);
    if (tasks.length === 0) throw new RangeError("a mixture needs at least one task");
    this.tasks = tasks;
    this.#offsets = [0];
    for (const t of tasks) this.#offsets.push(this.#offsets.at(-1)! + t.size);
  }

  numExamples(): number {
    return this.#offsets.at(-1)!;
  }

  /** The example at position `g` of the tasks concatenated in order. */
  protected concatenated(g: number): TaskConversation {
    let lo = 0;
    let hi = this.tasks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#offsets[mid] <= g) lo = mid;
      else hi = mid - 1;
    }
    return this.tasks[lo].get(g - this.#offsets[lo]);
  }
}

/**
 * Tasks mixed by nanochat's deterministic shuffle: the (task, index) pairs in concatenated order,
 * shuffled once with Python's `random.Random(42)`. Pass a task twice to oversample it.
 */
export class TaskMixture extends CompositeTask {
  readonly name = "TaskMixture";
  readonly #order: Uint32Array;

  constructor(tasks: readonly Task[], slice?: TaskSlice) {
    super(tasks, slice);
    const order = Array.from({ length: this.numExamples() }, (_, i) => i);
    this.#order = Uint32Array.from(new PyRandom(42).shuffle(order));
  }

  example(index: number): TaskConversation {
    return this.concatenated(this.#order[index]);
  }
}

/** Tasks one after another (a curriculum). */
export class TaskSequence extends CompositeTask {
  readonly name = "TaskSequence";

  example(index: number): TaskConversation {
    return this.concatenated(index);
  }
}

/**
 * nanochat's multiple-choice prompt. The letter comes after its choice with no space after "=", so
 * the prompt's letter token is the same token as the bare letter the assistant answers with.
 */
export function renderMc(question: string, letters: readonly string[], choices: readonly string[]): string {
  let query = `Multiple Choice question: ${question}\n`;
  choices.forEach((choice, i) => query += `- ${choice}=${letters[i]}\n`);
  return query + "\nRespond only with the letter of the correct answer.";
}

/**
 * The number after "#### " (commas removed), as GSM8K's official grader and nanochat extract it;
 * null when there is none.
 */
export function extractHashAnswer(completion: string): string | null {
  const m = /#### (-?[0-9.,]+)/.exec(completion);
  return m ? m[1].trim().replaceAll(",", "") : null;
}
