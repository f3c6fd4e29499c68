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
  examplesPerStep: number;
  settings: RolloutSettings;
  /** This step's learning rates and momentum. */
  optim: OptimStepOptions;
  /** Called after each problem with the backward passes done so far (for in-step progress). */
  onProblem?: (passesDone: number) => void;
}

/** What a step did: every sample's reward, the total length of the sequences and of the sampled tokens. */
export interface RlStepStats {
  rewards: number[];
  /** Sum over samples of prompt + generated tokens (nanochat logs the mean). */
  sequenceTokens: number;
  /** Tokens the model sampled (mask 1). */
  sampledTokens: number;
  /** The step's policy-gradient loss (the sum of the passes' losses; each is already normalized). */
  loss: number;
  /** Problems skipped because their prompt fills the model's context. */
  skipped: number;
}

/** Problem e of step s: a cycle over the training set (nanochat's itertools.cycle on one rank). */
export function problemIndex(step: number, e: number, examplesPerStep: number, size: number): number {
  return (step * examplesPerStep + e) % size;
}

/** Rollouts, weighted backward passes and the optimizer step of one RL step. */
export async function rlStep(i: RlStepInput): Promise<RlStepStats> {
  const { model, settings: s } = i;
  const padToken = i.tokenizer.encodeSpecial("<|assistant_end|>");
  const passesPerProblem = s.numSamples / s.deviceBatchSize;
  const stats: RlStepStats = { rewards: [], sequenceTokens: 0, sampledTokens: 0, loss: 0, skipped: 0 };
  for (let e = 0; e < i.examplesPerStep; e++) {
    const index = problemIndex(i.step, e, i.examplesPerStep, i.task.size);
    const r = await rolloutProblem(i.engine, i.tokenizer, i.task, index, i.step, s);
    if (r === null) {
      stats.skipped++;
      continue;
    }
    for (const pass of trainingPasses(r, padToken, s.deviceBatchSize, i.examplesPerStep)) {
      if (pass.zeroAdvantage) continue; // its gradient is exactly 0
      await model.backwardWeighted(pass.inputs, pass.targets, pass.weights, pass.B, pass.T, pass.normalizer);
    }
    stats.rewards.push(...r.rewards);
    stats.sequenceTokens += r.sequences.reduce((a, seq) => a + seq.length, 0);
    stats.sampledTokens += r.sampledTokens;
    i.onProblem?.((e + 1) * passesPerProblem);
  }
  stats.loss = model.lossStats().lossSum;
  await model.optimStep(i.optim);
  model.zeroGrad();
  return stats;
}
