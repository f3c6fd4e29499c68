// Chat evaluation, as nanochat's chat_eval.py: categorical tasks (ARC-Easy/Challenge, MMLU) read the
// logits at the last prompt position (<|assistant_start|>), restricted to the answer letters, in batches
// right-padded with BOS; generative tasks (GSM8K with the calculator tool, HumanEval through the code
// sandbox, SpellingBee) sample completions with the engine and grade them, a problem passing if any of
// its samples passes (pass@k; pass@1..k is reported too). ChatCORE is the mean centered accuracy over
// ARC-Easy, ARC-Challenge, MMLU, GSM8K and HumanEval (baselines 0.25, 0.25, 0.25, 0, 0), computed when all
// five ran. nanochat version A also averaged SpellingBee into it; we follow the five-task definition
// (nanochat's later one), and report SpellingBee beside it.
// Where we differ: a prompt longer than the model's context is cropped from the left (keeping its end),
// where nanochat would forward it past the context.
import { UserError } from "../common/errors.ts";
import { Progress } from "../common/progress.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { renderForCompletion } from "../tokenizer/render.ts";
import type { BatchOptions, GeneratedRow } from "../engine/engine.ts";
import type { RankShard } from "./core.ts";
import {
  ARC,
  GSM8K,
  HumanEval,
  MMLU,
  type PythonRunner,
  SpellingBee,
  type Task,
  type TaskDataOptions,
} from "../../tasks/mod.ts";

/** The tasks `eval chat` knows, in nanochat's order. */
export const CHAT_TASKS = ["ARC-Easy", "ARC-Challenge", "MMLU", "GSM8K", "HumanEval", "SpellingBee"] as const;
export type ChatTaskName = typeof CHAT_TASKS[number];

/** ChatCORE's tasks and their random-guess baselines. */
export const CHATCORE_BASELINES: Readonly<Record<string, number>> = {
  "ARC-Easy": 0.25,
  "ARC-Challenge": 0.25,
  "MMLU": 0.25,
  "GSM8K": 0,
  "HumanEval": 0,
};

/** Parses `-a`: "all", or names joined by "|" (nanochat's syntax) or ","; unknown names are an error. */
export function parseTaskNames(spec: string | undefined): ChatTaskName[] {
  if (spec === undefined || spec === "all") return [...CHAT_TASKS];
  const names = spec.split(/[|,]/).map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!(CHAT_TASKS as readonly string[]).includes(n)) {
      throw new UserError(`unknown task "${n}": use one of ${CHAT_TASKS.join(", ")}, or all`);
    }
  }
  if (names.length === 0) {
    throw new UserError(`-a needs a task name: one of ${CHAT_TASKS.join(", ")}, or all`);
  }
  return names as ChatTaskName[];
}

/** Loads a chat-eval task with nanochat's split and size (HumanEval graded by `run`). */
export function loadChatTask(name: ChatTaskName, o: TaskDataOptions & { run?: PythonRunner }): Promise<Task> {
  switch (name) {
    case "ARC-Easy":
    case "ARC-Challenge":
      return ARC.load({ ...o, subset: name, split: "test" });
    case "MMLU":
      return MMLU.load({ ...o, subset: "all", split: "test" });
    case "GSM8K":
      return GSM8K.load({ ...o, subset: "main", split: "test" });
    case "HumanEval":
      return HumanEval.load(o);
    case "SpellingBee":
      return SpellingBee.load({ ...o, size: 256, split: "test" });
  }
}

/** One task's outcome. */
export interface ChatTaskResult {
  task: string;
  evalType: "categorical" | "generative";
  passed: number;
  total: number;
  accuracy: number;
  /** Generative: pass@1..numSamples (any of the first k samples passes). */
  passAtK?: number[];
  seconds: number;
}

/** What categorical evaluation needs of a model (GPT has it). */
export interface LogitsModel {
  readonly maxBatch: number;
  readonly config: { vocabSize: number; sequenceLen: number };
  forwardLogitsAt(
    inputs: Int32Array<ArrayBuffer>,
    B: number,
    T: number,
    positions: Int32Array<ArrayBuffer>,
  ): Promise<Float32Array>;
}

/** What generative evaluation needs of an engine (Engine has it). */
export interface SamplingEngine {
  generate(prompt: number[], options: BatchOptions): Promise<GeneratedRow[]>;
}

function problemCount(task: Task, maxProblems?: number): number {
  return maxProblems === undefined || maxProblems < 0 ? task.size : Math.min(task.size, maxProblems);
}

/** The problems of [0, n) this rank evaluates: i = rank, rank + W, ... (all of them without ranks). */
function myProblems(n: number, shard?: RankShard | null): number[] {
  const W = shard?.worldSize ?? 1, r = shard?.rank ?? 0;
  return Array.from({ length: Math.max(0, Math.ceil((n - r) / W)) }, (_, k) => r + k * W);
}

/** Sums per-rank counts over the ranks, in place (a no-op without ranks). */
async function sumOverRanks(values: number[], shard?: RankShard | null): Promise<void> {
  if (!shard || shard.worldSize === 1) return;
  const buf = Float64Array.from(values);
  await shard.allReduceSum(buf);
  buf.forEach((v, i) => values[i] = v);
}

/** The prompt, cropped from the left to `limit` tokens when longer. */
function fitPrompt(ids: number[], limit: number): number[] {
  return ids.length > limit ? ids.slice(ids.length - limit) : ids;
}

/** Categorical evaluation: argmax over the answer letters' logits at the last prompt position. */
export async function runCategorical(
  task: Task,
  tokenizer: Tokenizer,
  model: LogitsModel,
  o: { batchSize: number; maxProblems?: number; quiet?: boolean; shard?: RankShard | null },
): Promise<ChatTaskResult> {
  const t0 = performance.now();
  const n = problemCount(task, o.maxProblems);
  const mine = myProblems(n, o.shard);
  const B0 = Math.min(o.batchSize, model.maxBatch);
  const V = model.config.vocabSize;
  const bos = tokenizer.bosId;
  const letterIds = new Map<string, number>();
  const letterId = (letter: string) => {
    let id = letterIds.get(letter);
    if (id === undefined) {
      const ids = tokenizer.encode(letter);
      if (ids.length !== 1) {
        throw new UserError(`the answer letter "${letter}" is not a single token in this tokenizer`);
      }
      id = ids[0];
      letterIds.set(letter, id);
    }
    return id;
  };
  const progress = new Progress(task.name, mine.length, { quiet: o.quiet });
  let passed = 0;
  for (let i0 = 0; i0 < mine.length; i0 += B0) {
    const convs = mine.slice(i0, i0 + B0).map((i) => task.get(i));
    const prompts = convs.map((c) => fitPrompt(renderForCompletion(tokenizer, c), model.config.sequenceLen));
    const B = prompts.length;
    const T = Math.max(...prompts.map((p) => p.length));
    const inputs = new Int32Array(B * T).fill(bos);
    prompts.forEach((p, b) => inputs.set(p, b * T));
    const positions = Int32Array.from(prompts, (p) => p.length - 1);
    const logits = await model.forwardLogitsAt(inputs, B, T, positions);
    for (const [b, conv] of convs.entries()) {
      const letters = conv.letters;
      if (!letters?.length) throw new UserError(`${task.name} example ${mine[i0 + b]} has no answer letters`);
      let best = 0;
      for (let k = 1; k < letters.length; k++) {
        if (logits[b * V + letterId(letters[k])] > logits[b * V + letterId(letters[best])]) best = k;
      }
      if (await task.evaluate(conv, letters[best])) passed++;
    }
    progress.advance(B, `${passed}/${i0 + B} correct`);
  }
  const counts = [passed];
  await sumOverRanks(counts, o.shard);
  passed = counts[0];
  progress.finish(`${passed}/${n} correct`);
  return {
    task: task.name,
    evalType: "categorical",
    passed,
    total: n,
    accuracy: passed / n,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Generative evaluation: sample `numSamples` completions per problem and grade them. */
export async function runGenerative(
  task: Task,
  tokenizer: Tokenizer,
  engine: SamplingEngine,
  contextLen: number,
  o: {
    numSamples: number;
    maxNewTokens: number;
    temperature: number;
    topK: number;
    maxProblems?: number;
    quiet?: boolean;
    shard?: RankShard | null;
  },
): Promise<ChatTaskResult> {
  const t0 = performance.now();
  const n = problemCount(task, o.maxProblems);
  const mine = myProblems(n, o.shard);
  const passAt = new Array(o.numSamples).fill(0);
  const progress = new Progress(task.name, mine.length, { quiet: o.quiet });
  let passed = 0;
  for (const [k, i] of mine.entries()) {
    const conv = task.get(i);
    const prompt = fitPrompt(renderForCompletion(tokenizer, conv), contextLen - 1);
    const rows = await engine.generate(prompt, {
      numSamples: o.numSamples,
      maxTokens: o.maxNewTokens,
      temperature: o.temperature,
      topK: o.topK,
    });
    const outcomes: boolean[] = [];
    for (const row of rows) outcomes.push(await task.evaluate(conv, tokenizer.decode(row.tokens)));
    let any = false;
    outcomes.forEach((ok, k) => {
      any ||= ok;
      if (any) passAt[k]++;
    });
    if (any) passed++;
    progress.advance(1, `${passed}/${k + 1} passed`);
  }
  const counts = [passed, ...passAt];
  await sumOverRanks(counts, o.shard);
  passed = counts[0];
  passAt.splice(0, passAt.length, ...counts.slice(1));
  progress.finish(`${passed}/${n} passed`);
  return {
    task: task.name,
    evalType: "generative",
    passed,
    total: n,
    accuracy: passed / n,
    passAtK: passAt.map((p) => p / n),
    seconds: (performance.now() - t0) / 1000,
  };
}

/** ChatCORE: the mean of (acc - baseline) / (1 - baseline) over its five tasks; null unless all five ran. */
export function chatCore(accuracies: Readonly<Record<string, number>>): number | null {
  const names = Object.keys(CHATCORE_BASELINES);
  if (!names.every((n) => n in accuracies)) return null;
  const centered = names.map((n) => (accuracies[n] - CHATCORE_BASELINES[n]) / (1 - CHATCORE_BASELINES[n]));
  return centered.reduce((a, b) => a + b, 0) / names.length;
}
