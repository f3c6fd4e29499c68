// The CORE metric (DCLM, arXiv 2406.11794) with nanochat's protocol (core_eval.py and base_eval.py):
//   - each task's rows are shuffled with Python's Random(1337), then cropped to max-per-task;
//   - example idx gets num_fewshot others drawn with Random(1234 + idx).sample, never itself;
//   - prompts as nanochat's Jinja templates render them (few-shots joined by a blank line);
//   - BOS prepended; multiple_choice scores the continuation after the options' common token prefix,
//     schema the common token suffix after each context option, language_modeling the tokens the
//     continuation adds (the stripped prompt without it must be a token prefix of the prompt with it);
//   - MC/schema: the option with the lowest mean cross-entropy over its span wins; LM: correct iff
//     every span token is the argmax prediction;
//   - centered accuracy (acc - 0.01 rb) / (1 - 0.01 rb); CORE = mean over the tasks evaluated.
// Where we differ: nanochat forwards its own models past their training context (the rotary table is
// 10x longer) and crops only GPT-2-style models with a max_seq_len; here the model's context is a hard
// limit, so a longer sequence is cropped from the left keeping its continuation, as nanochat does for
// those models. Scoring is batched: sequences of any examples are packed into rows of similar length
// (BOS padding; causal attention keeps each row's scores independent of the padding), and the model
// returns per-token losses and argmax ids, never a batch of full-vocabulary logits. A multiple-choice
// example's options share their whole prompt, so it is computed once (KV cache) and each option's span
// is scored after it: the same arithmetic as nanochat's one forward per option, up to float rounding.
import { UserError } from "../common/errors.ts";
import { Progress } from "../common/progress.ts";
import { PyRandom } from "../../tasks/rng.ts";
import { type CoreBundle, type CoreTaskSpec, type CoreTaskType, readTaskData } from "./core_bundle.ts";

/** What CORE needs of a tokenizer (Tokenizer has it; tests pass a character-level one). */
export interface CoreTokenizer {
  readonly bosId: number;
  encode(texts: readonly string[], options: { prepend: number }): number[][];
}

/** What CORE needs of a model: per-token losses and argmax ids for a [B, T] batch. */
export interface SequenceScorer {
  /** Most rows per call. */
  readonly maxRows: number;
  /** Longest row (the model's context). */
  readonly maxLen: number;
  score(
    inputs: Int32Array<ArrayBuffer>,
    targets: Int32Array<ArrayBuffer>,
    B: number,
    T: number,
  ): Promise<{ losses: Float32Array; argmax: Int32Array }>;
  /**
   * Optional: the per-token cross-entropy of each continuation after one shared prefix (losses[i][k] for
   * predicting continuations[i][k]), computing the prefix once; prefix + continuation fits the context.
   */
  scoreContinuations?(prefix: number[], continuations: number[][]): Promise<Float64Array[]>;
}

/** What gptScorer needs of a KV cache (src/model/kv_cache.ts has it). */
interface ScoringCache {
  prefill(tokens: Int32Array<ArrayBuffer>, B: number, T: number): Promise<Float32Array>;
  decode(tokens: Int32Array<ArrayBuffer>): Promise<Float32Array>;
  copyFrom(src: ScoringCache): void;
  free(): void;
}

/**
 * A GPT (src/model/gpt.ts) as a scorer: its maxBatch rows, its context length; shared prefixes go through
 * a KV cache (prefilled once, copied to one row per continuation, then one decode step per token).
 */
export function gptScorer(model: {
  maxBatch: number;
  config: { sequenceLen: number; vocabSize: number };
  forwardScores: SequenceScorer["score"];
  createKVCache(batch: number, maxLen: number): ScoringCache;
}): SequenceScorer {
  const V = model.config.vocabSize;
  return {
    maxRows: model.maxBatch,
    maxLen: model.config.sequenceLen,
    score: (inputs, targets, B, T) => model.forwardScores(inputs, targets, B, T),
    async scoreContinuations(prefix, continuations) {
      const n = continuations.length;
      const longest = Math.max(...continuations.map((c) => c.length));
      const out = continuations.map((c) => new Float64Array(c.length));
      if (longest === 0) return out;
      const one = model.createKVCache(1, prefix.length);
      let rows: ScoringCache | null = null;
      try {
        let logits = await one.prefill(Int32Array.from(prefix), 1, prefix.length);
        continuations.forEach((c, i) => c.length > 0 && (out[i][0] = crossEntropy(logits, 0, V, c[0])));
        if (longest === 1) return out;
        rows = model.createKVCache(n, prefix.length + longest - 1);
        rows.copyFrom(one);
        const fed = new Int32Array(n);
        for (let k = 0; k + 1 < longest; k++) {
          continuations.forEach((c, i) => fed[i] = c[Math.min(k, c.length - 1)] ?? prefix[prefix.length - 1]);
          logits = await rows.decode(fed);
          continuations.forEach((c, i) =>
            k + 1 < c.length && (out[i][k + 1] = crossEntropy(logits, i * V, V, c[k + 1]))
          );
        }
        return out;
      } finally {
        one.free();
        rows?.free();
      }
    },
  };
}

/** -log softmax(logits[off .. off+V))[target], in double precision. */
function crossEntropy(logits: Float32Array, off: number, V: number, target: number): number {
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (logits[off + v] > max) max = logits[off + v];
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(logits[off + v] - max);
  return max + Math.log(sum) - logits[off + target];
}

type Row = Record<string, unknown>;

/** Python's str.strip() (its whitespace set differs from JavaScript's trim). */
export function pyStrip(s: string): string {
  return s.replace(PY_SPACE_START, "").replace(PY_SPACE_END, "");
}
const PY_SPACE =
  "[\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
const PY_SPACE_START = new RegExp(`^${PY_SPACE}+`);
const PY_SPACE_END = new RegExp(`${PY_SPACE}+$`);

function field(row: Row, key: string, label: string): unknown {
  if (!(key in row)) throw new UserError(`${label}: a row has no "${key}" field (is the task type right?)`);
  return row[key];
}
const text = (row: Row, key: string, label: string) => String(field(row, key, label));
const list = (row: Row, key: string, label: string): unknown[] => {
  const v = field(row, key, label);
  if (!Array.isArray(v)) throw new UserError(`${label}: "${key}" must be a list`);
  return v;
};
const gold = (row: Row, label: string): number => {
  const g = field(row, "gold", label);
  if (!Number.isInteger(g)) throw new UserError(`${label}: "gold" must be an integer`);
  return g as number;
};

/** The prompts nanochat renders for one item: one per option (MC, schema), or [without, with] (LM). */
export function renderPrompts(
  type: CoreTaskType,
  item: Row,
  fewshot: Row[],
  delim: string,
  label = "task",
): string[] {
  if (type === "multiple_choice") {
    const shots = fewshot.map((e) =>
      `${text(e, "query", label)}${delim}${String(list(e, "choices", label)[gold(e, label)])}\n\n`
    ).join("");
    return list(item, "choices", label).map((c) =>
      `${shots}${text(item, "query", label)}${delim}${String(c)}`
    );
  }
  if (type === "schema") {
    const shots = fewshot.map((e) =>
      `${String(list(e, "context_options", label)[gold(e, label)])}${delim}${
        text(e, "continuation", label)
      }\n\n`
    ).join("");
    return list(item, "context_options", label).map((c) =>
      `${shots}${String(c)}${delim}${text(item, "continuation", label)}`
    );
  }
  const shots = fewshot.map((e) =>
    `${pyStrip(text(e, "context", label))}${delim}${text(e, "continuation", label)}\n\n`
  ).join("");
  const stem = `${shots}${pyStrip(text(item, "context", label))}${delim}`;
  return [pyStrip(stem), stem + text(item, "continuation", label)];
}

/** Sequences to score for one example: tokens (BOS first) and the span [start, end) being judged. */
export interface ScoredSequences {
  tokens: number[][];
  starts: number[];
  ends: number[];
}

/** Length of the common prefix ("left") or suffix ("right") of token sequences. */
export function commonLength(seqs: number[][], direction: "left" | "right"): number {
  const minLen = Math.min(...seqs.map((s) => s.length));
  for (let i = 0; i < minLen; i++) {
    const at = (s: number[]) => direction === "left" ? s[i] : s[s.length - 1 - i];
    const t = at(seqs[0]);
    if (!seqs.every((s) => at(s) === t)) return i;
  }
  return minLen;
}

/** Tokenized prompts -> the sequences and spans nanochat scores for a task type. */
export function spansFor(type: CoreTaskType, tokens: number[][], label = "task"): ScoredSequences {
  if (type === "multiple_choice") {
    const start = commonLength(tokens, "left");
    return { tokens, starts: tokens.map(() => start), ends: tokens.map((t) => t.length) };
  }
  if (type === "schema") {
    const suffix = commonLength(tokens, "right");
    const ends = tokens.map((t) => t.length);
    return { tokens, starts: ends.map((e) => e - suffix), ends };
  }
  const [without, withCont] = tokens;
  const start = without.length;
  if (start >= withCont.length || without.some((t, i) => withCont[i] !== t)) {
    throw new UserError(
      `${label}: the prompt without its continuation does not tokenize to a prefix of the prompt with it`,
    );
  }
  return { tokens: [withCont], starts: [start], ends: [withCont.length] };
}

/**
 * Crops sequences longer than `maxLen` from the left, shifting their spans (nanochat's max_seq_len
 * path). A span start is kept >= 1 so the token before it is there to predict it.
 */
export function cropToContext(s: ScoredSequences, maxLen: number): ScoredSequences {
  const out: ScoredSequences = { tokens: [], starts: [], ends: [] };
  s.tokens.forEach((t, i) => {
    const crop = Math.max(0, t.length - maxLen);
    out.tokens.push(crop > 0 ? t.slice(crop) : t);
    out.starts.push(Math.max(1, s.starts[i] - crop));
    out.ends.push(s.ends[i] - crop);
  });
  return out;
}

/** The few-shot example indices of example `idx`: Random(1234 + idx).sample of all others. */
export function fewshotIndices(n: number, idx: number, k: number): number[] {
  if (k === 0) return [];
  if (k > n - 1) throw new UserError(`cannot draw ${k} few-shot examples from ${n - 1} others`);
  return new PyRandom(1234 + idx).sampleIndexed(n - 1, k, (j) => (j < idx ? j : j + 1));
}

/** What one KV-cache decode step costs, in tokens of a packed forward pass (weights read per step). */
const DECODE_STEP_TOKENS = 8;

/** Per-task outcome. */
export interface CoreTaskResult {
  label: string;
  taskType: CoreTaskType;
  numFewshot: number;
  examples: number;
  accuracy: number;
  centered: number;
  randomBaseline: number;
  seconds: number;
  /** 1/0 per example, in the evaluated (shuffled, cropped) order. */
  correct: Uint8Array;
}

/**
 * The ranks of a data-parallel evaluation (a Communicator fits): rank r scores the examples whose index
 * is r modulo worldSize, as nanochat's evaluate_task, and the per-example results are summed over the
 * ranks, so every rank ends with the whole task's result.
 */
export interface RankShard {
  readonly rank: number;
  readonly worldSize: number;
  allReduceSum(values: Float64Array<ArrayBuffer>): Promise<void>;
}

/** One task: shuffle + crop, render, tokenize, crop to context, score in packed batches, grade. */
export async function evaluateCoreTask(
  scorer: SequenceScorer,
  tokenizer: CoreTokenizer,
  rows: Row[],
  spec: Omit<CoreTaskSpec, "datasetUri">,
  options: { maxPerTask?: number; progress?: Progress; sharePrefix?: boolean; shard?: RankShard | null } = {},
): Promise<CoreTaskResult> {
  const t0 = performance.now();
  const data = new PyRandom(1337).shuffle([...rows]);
  if ((options.maxPerTask ?? -1) > 0) data.length = Math.min(data.length, options.maxPerTask!);
  if (data.length === 0) throw new UserError(`${spec.label}: the task has no rows`);
  if (spec.numFewshot > data.length - 1) {
    throw new UserError(
      `${spec.label}: ${spec.numFewshot}-shot prompts need at least ${spec.numFewshot + 1} examples but ` +
        `${data.length} are evaluated: raise --max-per-task`,
    );
  }

  // every example's sequences, tokenized in one parallel batch
  const prompts = data.map((item, idx) =>
    renderPrompts(
      spec.taskType,
      item,
      fewshotIndices(data.length, idx, spec.numFewshot).map((j) => data[j]),
      spec.continuationDelimiter,
      spec.label,
    )
  );
  const flat = tokenizer.encode(prompts.flat(), { prepend: tokenizer.bosId });
  const seqs: ScoredSequences[] = [];
  let off = 0;
  for (const p of prompts) {
    seqs.push(
      cropToContext(spansFor(spec.taskType, flat.slice(off, off + p.length), spec.label), scorer.maxLen),
    );
    off += p.length;
  }

  // with ranks, this one scores (and grades) only its examples: ex % worldSize === rank
  const shard = options.shard ?? null;
  const mine = (ex: number) => shard === null || ex % shard.worldSize === shard.rank;
  const myCount = data.filter((_, ex) => mine(ex)).length;
  const meanLoss = seqs.map((s) => new Float64Array(s.tokens.length));
  const allArgmax = seqs.map((s) => new Uint8Array(s.tokens.length));
  // multiple choice: the options share everything before their span (the few-shots and the question), so
  // with a KV cache that prefix is computed once per example instead of once per option. Cropped
  // examples (their options no longer share positions) and other task types are packed instead.
  const shared = new Set<number>();
  if (spec.taskType === "multiple_choice" && scorer.scoreContinuations && options.sharePrefix !== false) {
    seqs.forEach((s, ex) => {
      if (
        !mine(ex) || s.tokens.length < 2 || s.starts[0] < 1 ||
        !s.tokens.every((t) => t.length <= scorer.maxLen)
      ) return;
      // a decode step reads every weight for a handful of rows, so it costs about DECODE_STEP_TOKENS
      // tokens of a packed forward: share only where that beats forwarding every option in full
      const longest = Math.max(...s.ends.map((e, i) => e - s.starts[i]));
      const sharedCost = s.starts[0] + (longest - 1) * Math.max(s.tokens.length, DECODE_STEP_TOKENS);
      if (sharedCost < s.tokens.reduce((n, t) => n + t.length, 0)) shared.add(ex);
    });
  }
  for (const ex of shared) {
    const s = seqs[ex];
    // the prefix ends just before the first span token; each continuation is its span
    const prefix = s.tokens[0].slice(0, s.starts[0]);
    const conts = s.tokens.map((t, i) => t.slice(s.starts[i], s.ends[i]));
    const losses = await scorer.scoreContinuations!(prefix, conts);
    losses.forEach((l, opt) => meanLoss[ex][opt] = l.reduce((a, b) => a + b, 0) / l.length);
    options.progress?.advance(1);
  }

  // pack all other sequences, longest first, into batches of similar length
  const items: { ex: number; opt: number; len: number }[] = [];
  seqs.forEach((s, ex) =>
    mine(ex) && !shared.has(ex) && s.tokens.forEach((t, opt) => items.push({ ex, opt, len: t.length }))
  );
  items.sort((a, b) => b.len - a.len || a.ex - b.ex || a.opt - b.opt);
  const bos = tokenizer.bosId;
  for (let i = 0; i < items.length; i += scorer.maxRows) {
    const batch = items.slice(i, i + scorer.maxRows);
    const B = batch.length;
    const T = batch[0].len;
    const inputs = new Int32Array(B * T).fill(bos);
    const targets = new Int32Array(B * T).fill(-1);
    batch.forEach(({ ex, opt }, b) => {
      const s = seqs[ex];
      const t = s.tokens[opt];
      inputs.set(t, b * T);
      // position p predicts token p+1: only the span's predictions are needed
      for (let p = s.starts[opt] - 1; p < s.ends[opt] - 1; p++) targets[b * T + p] = t[p + 1];
    });
    const { losses, argmax } = await scorer.score(inputs, targets, B, T);
    batch.forEach(({ ex, opt }, b) => {
      const s = seqs[ex];
      const t = s.tokens[opt];
      let sum = 0;
      let allMatch = 1;
      for (let p = s.starts[opt] - 1; p < s.ends[opt] - 1; p++) {
        sum += losses[b * T + p];
        if (argmax[b * T + p] !== t[p + 1]) allMatch = 0;
      }
      meanLoss[ex][opt] = sum / (s.ends[opt] - s.starts[opt]);
      allArgmax[ex][opt] = allMatch;
    });
    options.progress?.advance((B * (myCount - shared.size)) / items.length);
  }

  const correct = new Uint8Array(data.length);
  data.forEach((item, ex) => {
    if (!mine(ex)) return;
    if (spec.taskType === "language_modeling") {
      correct[ex] = allArgmax[ex][0];
    } else {
      // Python's min() then list.index(): the first option with the strictly lowest mean loss
      const m = meanLoss[ex];
      let best = 0;
      for (let o = 1; o < m.length; o++) if (m[o] < m[best]) best = o;
      correct[ex] = best === gold(item, spec.label) ? 1 : 0;
    }
  });
  if (shard !== null && shard.worldSize > 1) {
    const sums = Float64Array.from(correct);
    await shard.allReduceSum(sums);
    sums.forEach((v, ex) => correct[ex] = v);
  }
  const accuracy = correct.reduce((a, b) => a + b, 0) / data.length;
  return {
    label: spec.label,
    taskType: spec.taskType,
    numFewshot: spec.numFewshot,
    examples: data.length,
    accuracy,
    centered: centeredAccuracy(accuracy, spec.randomBaseline),
    randomBaseline: spec.randomBaseline,
    seconds: (performance.now() - t0) / 1000,
    correct,
  };
}

/** (acc - 0.01 rb) / (1 - 0.01 rb), with the baseline in percent. */
export function centeredAccuracy(accuracy: number, randomBaselinePercent: number): number {
  return (accuracy - 0.01 * randomBaselinePercent) / (1 - 0.01 * randomBaselinePercent);
}

/** Every task's result and CORE, the mean centered accuracy over them. */
export interface CoreResults {
  tasks: CoreTaskResult[];
  core: number;
}

/** Options of evaluateCore. */
export interface CoreOptions {
  /** Examples per task after the shuffle (-1 = all). */
  maxPerTask?: number;
  /** Only these labels (default: every task in core.yaml). */
  only?: readonly string[];
  /** No progress bar or per-task lines. */
  quiet?: boolean;
  /** Score multiple-choice options after one shared-prefix pass (default true; false packs every option). */
  sharePrefix?: boolean;
  /** Per-task line sink; default console.log. */
  log?: (line: string) => void;
  /** Split the examples over the ranks of a data-parallel run (every rank calls evaluateCore). */
  shard?: RankShard | null;
}

/** Runs every task of the bundle and averages their centered accuracies. */
export async function evaluateCore(
  scorer: SequenceScorer,
  tokenizer: CoreTokenizer,
  bundle: CoreBundle,
  options: CoreOptions = {},
): Promise<CoreResults> {
  const specs = options.only ? bundle.tasks.filter((t) => options.only!.includes(t.label)) : bundle.tasks;
  const datas: Row[][] = [];
  for (const spec of specs) datas.push(await readTaskData(bundle, spec));
  const cap = (n: number) => ((options.maxPerTask ?? -1) > 0 ? Math.min(n, options.maxPerTask!) : n);
  const progress = new Progress("CORE", datas.reduce((s, d) => s + cap(d.length), 0), {
    quiet: options.quiet,
  });
  const log = options.quiet ? () => {} : (options.log ?? console.log);
  const tasks: CoreTaskResult[] = [];
  for (const [i, spec] of specs.entries()) {
    const r = await evaluateCoreTask(scorer, tokenizer, datas[i], spec, {
      maxPerTask: options.maxPerTask,
      progress,
      shard: options.shard,
    });
    tasks.push(r);
    log(
      `${spec.label} (${spec.numFewshot}-shot, ${spec.taskType}, ${r.examples} examples): accuracy ${
        r.accuracy.toFixed(4)
      } | ` +
        `centered ${r.centered.toFixed(4)} | ${r.seconds.toFixed(1)}s`,
    );
  }
  if (tasks.length > 0) progress.finish();
  return { tasks, core: tasks.reduce((s, t) => s + t.centered, 0) / tasks.length };
}
