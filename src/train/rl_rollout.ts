// RL rollouts and their training batches, as nanochat A's chat_rl get_batch: one problem's group of samples
// (prompt rendered for completion, sampled in passes of device-batch-size rows, each pass with its own seed),
// rewards from the task, advantages = reward - group mean (no division by the std), then the sequences padded
// with <|assistant_end|> and cut into per-pass (inputs, targets, weights) for the weighted backward:
// targets -1 wherever the engine's mask is 0 (prompt and calculator output), weight = the row's advantage.
// The policy-gradient loss per pass is sum(adv * CE) / (valid tokens * passes * examples per step), which is
// exactly nanochat's -sum(logp * adv) / (num_valid * num_passes * examples_per_rank).
import type { BatchOptions, GeneratedRow } from "../engine/engine.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { renderForCompletion } from "../tokenizer/render.ts";
import type { TaskConversation } from "../../tasks/mod.ts";

/** A task RL can train on: conversations and a reward for a completion (GSM8K has one). */
export interface RewardTask {
  readonly size: number;
  get(i: number): TaskConversation;
  reward(conversation: TaskConversation, completion: string): number;
}

/** What rollouts need of an engine (src/engine/engine.ts Engine has it). */
export interface RolloutEngine {
  generate(prompt: number[], options: BatchOptions): Promise<GeneratedRow[]>;
}

/** How one problem's group is sampled. */
export interface RolloutSettings {
  /** Samples per problem (a multiple of deviceBatchSize). */
  numSamples: number;
  /** Rows per sampling pass and per backward pass. */
  deviceBatchSize: number;
  maxNewTokens: number;
  temperature: number;
  topK: number;
  /** The model's context (sequence length): a longer prompt is skipped. */
  contextLen: number;
  /** The run's seed, mixed into every pass's seed. */
  seed: number;
}

/** One problem's group of samples. */
export interface ProblemRollout {
  /** The problem's index in the training task. */
  index: number;
  promptLength: number;
  /** Prompt + generated tokens of every sample (terminal token excluded, as nanochat's generate_batch). */
  sequences: number[][];
  /** Per token of `sequences`: 1 = sampled by the model, 0 = prompt or forced by the calculator. */
  masks: (0 | 1)[][];
  rewards: number[];
  advantages: number[];
  /** Tokens the model sampled (mask 1), over every sample. */
  sampledTokens: number;
}

/** One backward pass: deviceBatchSize rows of the group, padded to the group's longest sequence. */
export interface TrainingPass {
  inputs: Int32Array<ArrayBuffer>;
  targets: Int32Array<ArrayBuffer>;
  weights: Float32Array<ArrayBuffer>;
  B: number;
  T: number;
  /** Targets != -1 in this pass. */
  validTokens: number;
  /** The loss's divisor: max(1, validTokens) * passes * examples per step. */
  normalizer: number;
  /** True when every row's advantage is 0: the pass has no gradient and can be skipped. */
  zeroAdvantage: boolean;
}

/**
 * The seed of sampling pass `pass` of problem `index` at `step`: a function of those and the run's seed only,
 * so a resumed run draws the same samples (nanochat: hash((step, example_idx, sampling_step)) & 0x7FFFFFFF).
 */
export function rolloutSeed(seed: number, step: number, index: number, pass: number): number {
  let h = BigInt.asUintN(64, BigInt(Math.trunc(seed)) ^ 0x243f6a8885a308d3n);
  for (const v of [step, index, pass]) {
    h = BigInt.asUintN(64, (h ^ BigInt(v)) * 0x100000001b3n + 0x9e3779b97f4a7c15n);
    h ^= h >> 29n;
  }
  return Number(h & 0x7fffffffn);
}

/**
 * Samples `numSamples` completions of problem `index`, grades them, and computes the advantages; null when
 * the prompt alone fills the model's context (a short-context model meets a long problem: it is skipped).
 */
export async function rolloutProblem(
  engine: RolloutEngine,
  tokenizer: Tokenizer,
  task: RewardTask,
  index: number,
  step: number,
  s: RolloutSettings,
): Promise<ProblemRollout | null> {
  const conversation = task.get(index);
  const prompt = renderForCompletion(tokenizer, conversation);
  if (prompt.length >= s.contextLen) return null; // no room for a single sampled token
  const sequences: number[][] = [];
  const masks: (0 | 1)[][] = [];
  const rewards: number[] = [];
  let sampledTokens = 0;
  const passes = s.numSamples / s.deviceBatchSize;
  for (let pass = 0; pass < passes; pass++) {
    const rows = await engine.generate(prompt, {
      numSamples: s.deviceBatchSize,
      maxTokens: s.maxNewTokens,
      temperature: s.temperature,
      topK: s.topK,
      seed: rolloutSeed(s.seed, step, index, pass),
    });
    for (const row of rows) {
      sequences.push([...prompt, ...row.tokens]);
      masks.push([...new Array<0>(prompt.length).fill(0), ...row.masks]);
      rewards.push(task.reward(conversation, tokenizer.decode(row.tokens)));
      sampledTokens += row.masks.reduce<number>((a, m) => a + m, 0);
    }
  }
  const mean = rewards.reduce((a, r) => a + r, 0) / rewards.length;
  return {
    index,
    promptLength: prompt.length,
    sequences,
    masks,
    rewards,
    advantages: rewards.map((r) => r - mean),
    sampledTokens,
  };
}

/** The group's backward passes; `padToken` (nanochat: <|assistant_end|>) fills the shorter rows. */
export function trainingPasses(
  r: ProblemRollout,
  padToken: number,
  deviceBatchSize: number,
  examplesPerStep: number,
): TrainingPass[] {
  const maxLen = Math.max(...r.sequences.map((s) => s.length));
  const T = maxLen - 1;
  const numPasses = r.sequences.length / deviceBatchSize;
  const passes: TrainingPass[] = [];
  for (let p = 0; p < numPasses; p++) {
    const B = deviceBatchSize;
    const inputs = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    const weights = new Float32Array(B * T);
    let validTokens = 0;
    let zeroAdvantage = true;
    for (let b = 0; b < B; b++) {
      const row = p * B + b;
      const seq = r.sequences[row];
      const mask = r.masks[row];
      const adv = r.advantages[row];
      if (adv !== 0) zeroAdvantage = false;
      for (let t = 0; t < T; t++) {
        const i = b * T + t;
        inputs[i] = t < seq.length ? seq[t] : padToken;
        const sampled = t + 1 < seq.length && mask[t + 1] === 1;
        targets[i] = sampled ? seq[t + 1] : -1;
        if (sampled) {
          weights[i] = adv;
          validTokens++;
        }
      }
    }
    passes.push({
      inputs,
      targets,
      weights,
      B,
      T,
      validTokens,
      normalizer: Math.max(1, validTokens) * numPasses * examplesPerStep,
      zeroAdvantage,
    });
  }
  return passes;
}
