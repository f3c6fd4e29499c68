// One RL step, as nanochat A's chat_rl training loop body: for each of the step's problems in turn, its
// group of rollouts (rl_rollout.ts) and their weighted backward passes, then one optimizer step. One
// problem's samples at a time, as nanochat, so memory stays at device-batch-size rows. `nanochat train rl`
// and the RL row of `deno task bench:train` both run this.
import type { GPT } from "../model/gpt.ts";
import type { OptimStepOptions } from "../model/optim_step.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import {
  type RewardTask,
  type RolloutEngine,
  rolloutProblem,
  type RolloutSettings,
  trainingPasses,
} from "./rl_rollout.ts";

export interface RlStepInput {
  model: GPT;
  engine: RolloutEngine;
  tokenizer: Tokenizer;
  task: RewardTask;
  step: number;
  /** Problems of the step over all ranks (nanochat's examples_per_step). */
  examplesPerStep: number;
  settings: RolloutSettings;
  /** This process's rank and the world size: rank r takes the step's problems j with j mod W = r. */
  rank?: number;
  worldSize?: number;
  /** This step's learning rates and momentum. */
  optim: OptimStepOptions;
  /** Called after each problem with the backward passes done so far (for in-step progress). */
  onProblem?: (passesDone: number) => void;
}

/** What a step did on this rank: its samples' rewards, the length of its sequences and sampled tokens. */
export interface RlStepStats {
  rewards: number[];
  /** Sum over samples of prompt + generated tokens (nanochat logs the mean). */
  sequenceTokens: number;
  /** Tokens the model sampled (mask 1). */
  sampledTokens: number;
  /** This rank's policy-gradient loss (its passes' losses summed; the step's is the mean over the ranks). */
  loss: number;
  /** Problems skipped because their prompt fills the model's context. */
  skipped: number;
}

/**
 * Problem j of step s: a cycle over the training set (nanochat's itertools.cycle). With several ranks, rank r
 * takes the step's problems j = r, r + W, ... (nanochat strides each rank over its own cycle; striding the
 * step's list instead keeps the step's problems, and so its update, the same at every world size).
 */
export function problemIndex(step: number, j: number, examplesPerStep: number, size: number): number {
  return (step * examplesPerStep + j) % size;
}

/** Rollouts, weighted backward passes and the optimizer step of one RL step. */
export async function rlStep(i: RlStepInput): Promise<RlStepStats> {
  const { model, settings: s } = i;
  const padToken = i.tokenizer.encodeSpecial("<|assistant_end|>");
  const passesPerProblem = s.numSamples / s.deviceBatchSize;
  const rank = i.rank ?? 0;
  const world = i.worldSize ?? 1;
  // nanochat divides by examples_per_rank; the library then averages the ranks' gradients
  const examplesPerRank = i.examplesPerStep / world;
  const stats: RlStepStats = { rewards: [], sequenceTokens: 0, sampledTokens: 0, loss: 0, skipped: 0 };
  let done = 0;
  for (let j = rank; j < i.examplesPerStep; j += world) {
    const index = problemIndex(i.step, j, i.examplesPerStep, i.task.size);
    const r = await rolloutProblem(i.engine, i.tokenizer, i.task, index, i.step, s);
    done++;
    if (r === null) {
      stats.skipped++;
      continue;
    }
    for (const pass of trainingPasses(r, padToken, s.deviceBatchSize, examplesPerRank)) {
      if (pass.zeroAdvantage) continue; // its gradient is exactly 0
      await model.backwardWeighted(pass.inputs, pass.targets, pass.weights, pass.B, pass.T, pass.normalizer);
    }
    stats.rewards.push(...r.rewards);
    stats.sequenceTokens += r.sequences.reduce((a, seq) => a + seq.length, 0);
    stats.sampledTokens += r.sampledTokens;
    i.onProblem?.(done * passesPerProblem);
  }
  stats.loss = model.lossStats().lossSum;
  await model.optimStep(i.optim); // with a communicator attached, the gradients are averaged over the ranks
  model.zeroGrad();
  return stats;
}
