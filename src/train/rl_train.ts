// `nanochat train rl`: nanochat A's chat_rl on GSM8K, read top to bottom. From the SFT checkpoint, every step
// samples examples-per-step training problems x num-samples completions (T=1.0, top-k 50, 256 new tokens, a
// seed per sampling pass), rewards each by exact "####" answer match, and takes one optimizer step on the
// policy-gradient loss (advantage = reward - group mean, token-level normalization; rl_rollout.ts) through
// the per-token weighted backward. The learning rates are nanochat's base rates x init-lr-frac, decayed
// linearly to 0 over the run; Muon momentum is fixed at 0.95 (no warmup: nanochat's RL builds fresh
// optimizers with the default). pass@1..device-batch-size on held-out test problems every eval-every steps.
// Where we differ from nanochat, and why: checkpoints also hold the optimizer state and the loop state (an
// exact --resume; nanochat saves only the weights), pass@k is also measured after the last step (so the
// report has the final model's number), passes whose advantages are all 0 skip the backward (their gradient
// is exactly 0), a fresh run refuses to write over an existing RL run of the same tag (--resume it, or pick
// another --model-tag), a problem whose prompt alone fills a short-context model is skipped (nanochat's 2048
// never meets one), and --num-steps can cap the horizon (the cpu speedrun preset). Data-parallel as under
// nanochat's torchrun (--nproc-per-node, torchrun/SLURM/mpirun environments): rank r takes the step's
// problems r, r + W, ... (rl_step.ts), the library averages the gradients, pass@k problems are rank-strided
// and summed, rank 0 alone prints and writes. Resume, save, stop and progress are the shared stage helpers
// (stage_*.ts).
import { UserError } from "../common/errors.ts";
import { formatDuration } from "../common/fs.ts";
import { countParams, flopsPerToken, type GPTConfig } from "../model/config.ts";
import { ComputeContext } from "../model/context.ts";
import { readDistEnv } from "../dist/env.ts";
import { GPT } from "../model/gpt.ts";
import { Engine } from "../engine/engine.ts";
import { logReportSection } from "../report/section.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { renderForCompletion } from "../tokenizer/render.ts";
import { checkpointDir, latestCheckpoint } from "../checkpoint/checkpoint.ts";
import { runGenerative } from "../eval/chat_eval.ts";
import { GSM8K } from "../../tasks/mod.ts";
import type { RolloutSettings } from "./rl_rollout.ts";
import { rlStep } from "./rl_step.ts";
import { stageLearningRates } from "./schedule.ts";
import { loadSourceCheckpoint, userConfig } from "./stage_checkpoint.ts";
import { devicePeak, EtaClock, padStep, printRunEstimate, StepProgress } from "./stage_progress.ts";
import {
  describeStageDevice,
  stageComputeDtype,
  type StageRunOptions,
  StageSession,
} from "./stage_session.ts";
import { StopSignal } from "./stage_stop.ts";

/** nanochat A's chat_rl settings (dashed on the command line; defaults in stage_defaults.ts RL_DEFAULTS). */
export interface RlTrainOptions extends StageRunOptions {
  tokenizer: Tokenizer;
  /** The SFT model to start from (default: the largest d<N> in chatsft_checkpoints). */
  sourceTag?: string;
  /** Its checkpoint step (default: the latest). */
  sourceStep?: number;
  /** The RL run's folder name under chatrl_checkpoints ("" or undefined: the SFT model's tag). */
  modelTag?: string;
  deviceBatchSize: number;
  examplesPerStep: number;
  numSamples: number;
  maxNewTokens: number;
  temperature: number;
  topK: number;
  embeddingLr: number;
  unembeddingLr: number;
  matrixLr: number;
  weightDecay: number;
  initLrFrac: number;
  numEpochs: number;
  /** Steps of the run (-1: GSM8K train // examples per step, times the epochs, as nanochat). */
  numSteps: number;
  evalEvery: number;
  evalExamples: number;
  seed: number;
  /** Offline task data (../shared/data/chat layout; default $NANOCHAT_TASK_DATA_DIR, else download). */
  taskDataDir?: string;
}

/** What the loop carries from step to step; saved in every checkpoint so a resume continues it exactly. */
interface LoopState {
  totalTrainingTime: number;
  /** pass@k of the latest evaluation (k = 1..device-batch-size). */
  passAtK: number[] | null;
  firstMeanReward: number | null;
  lastMeanReward: number | null;
}

/** What `trainRl` returns: steps done, the last step's mean reward and the latest pass@k. */
export interface RlResult {
  steps: number;
  numSteps: number;
  meanReward: number | null;
  passAtK: number[] | null;
}

/** Muon momentum in RL: the optimizer's default, fixed (nanochat A's chat_rl has no momentum schedule). */
const RL_MUON_MOMENTUM = 0.95;

/** Runs RL from the SFT checkpoint to <base>/chatrl_checkpoints/<tag>. */
export async function trainRl(o: RlTrainOptions): Promise<RlResult> {
  checkOptions(o);
  // data-parallel as nanochat's chat_rl under torchrun: each rank samples and trains on its share of the
  // step's problems; gradients are averaged in the library; rank 0 alone prints and writes
  const dist = o.dist ?? readDistEnv(Deno.env.toObject());
  const { rank, worldSize } = dist;
  const master = rank === 0;
  const log = (...args: unknown[]) => {
    if (master) console.log(...args);
  };
  if (o.examplesPerStep % worldSize !== 0) {
    throw new UserError(
      `--examples-per-step ${o.examplesPerStep} must be a multiple of the ${worldSize} ranks (each takes an ` +
        `equal share)`,
    );
  }
  // ---- the SFT model, the RL run's folder and the tasks, all checked before anything is written
  const source = await loadSourceCheckpoint(o.baseDir, "sft", o.sourceTag, o.sourceStep);
  const config: GPTConfig = source.config;
  if (config.vocabSize !== o.tokenizer.vocabSize) {
    throw new UserError(
      `the tokenizer has ${o.tokenizer.vocabSize} tokens but SFT checkpoint ${source.ckpt.dir} expects ` +
        `${config.vocabSize}: use the tokenizer the model was trained with (--tokenizer-dir)`,
    );
  }
  const modelTag = o.modelTag || source.tag;
  const rlDir = checkpointDir(o.baseDir, "rl", modelTag);
  const existing = await latestCheckpoint(rlDir);
  if (existing !== null && !o.resume) {
    throw new UserError(
      `${rlDir} already holds an RL run (step ${existing.step}): continue it with --resume, ` +
        `or start another with --model-tag`,
    );
  }
  // GSM8K train for rollouts, GSM8K test (held out) for pass@k: its first eval-examples problems, rank-strided
  const data = { dataDir: o.taskDataDir, baseDir: o.baseDir, quiet: true };
  const train = await GSM8K.load({ ...data, split: "train" });
  const val = await GSM8K.load({ ...data, split: "test" });
  const evalCount = Math.min(o.evalExamples, val.size);
  const valShare = await GSM8K.load({
    ...data,
    split: "test",
    start: rank,
    stop: evalCount,
    step: worldSize,
  });
  const epochSteps = Math.floor(train.size / o.examplesPerStep) * o.numEpochs;
  const numSteps = o.numSteps > 0 ? o.numSteps : epochSteps;
  if (numSteps < 1) {
    throw new UserError(
      `GSM8K train has ${train.size} problems, fewer than --examples-per-step ${o.examplesPerStep}: lower it`,
    );
  }

  // ---- native model: the SFT weights with a fresh optimizer, or the RL run's own latest checkpoint
  const ctx = ComputeContext.create({ device: o.device, threads: o.threads, seed: o.seed });
  const computeDtype = stageComputeDtype(ctx);
  const model = GPT.create(ctx, config, { maxBatch: o.deviceBatchSize, computeDtype });
  let loop: LoopState = { totalTrainingTime: 0, passAtK: null, firstMeanReward: null, lastMeanReward: null };
  // a fresh run: the SFT weights, RL's optimizer starting fresh as nanochat's
  const session = await StageSession.open<null, LoopState>(
    o,
    { ctx, model, config, dist, ckptDir: rlDir, source: source.ckpt, stage: "rl", modelTag, log },
  );
  const { comm, resumed, metrics } = session;
  if (resumed !== null) loop = resumed.loopState;
  else log(`starting from the SFT model ${source.ckpt.dir} step ${source.step}`);
  const startStep = resumed?.step ?? 0;
  // the SFT checkpoint this run started from (a resumed run keeps the one it began with)
  const origin = resumed?.source ?? { stage: "sft" as const, tag: source.tag, step: source.step };
  const engine = new Engine(model, o.tokenizer);
  const sequencesPerStep = o.examplesPerStep * o.numSamples;
  log(describeStageDevice(ctx, computeDtype, worldSize));
  log(
    `RL d${config.nLayer} (${
      countParams(config).total.toLocaleString("en-US")
    } params): ${numSteps} steps of ` +
      `${o.examplesPerStep} problems x ${o.numSamples} samples (GSM8K train: ${train.size} problems, ` +
      `${o.numEpochs} epoch(s)); pass@1..${o.deviceBatchSize} on ${evalCount} ` +
      `test problems every ${o.evalEvery} steps; checkpoints in ${rlDir}`,
  );
  // the estimate counts, per sequence, a decode of max-new-tokens (2 FLOPs per weight per token) and a
  // training pass over prompt + max-new-tokens (6 per weight per token, attention included): an upper bound,
  // with the prompt length measured on the first problems
  const sample = Array.from({ length: Math.min(64, train.size) }, (_, i) => train.get(i));
  const promptTokens = sample.reduce((a, c) => a + renderForCompletion(o.tokenizer, c).length, 0) /
    sample.length;
  const flopsPerStep = sequencesPerStep *
    (2 * (countParams(config).total - countParams(config).wte) * o.maxNewTokens +
      flopsPerToken(config) * (promptTokens + o.maxNewTokens));
  const peak = devicePeak(ctx, o.threads, o.peakFlops);
  if (master) {
    printRunEstimate({
      flopsPerStep: flopsPerStep / worldSize,
      steps: numSteps - startStep,
      peak,
      deviceKind: ctx.device.kind,
      label: "steps (at most max-new-tokens per sample)",
    });
  }

  const stop = new StopSignal();
  const save = (step: number) =>
    session.save(step, { loaderState: null, loopState: loop, final: step >= numSteps, source: origin });

  // nanochat's run_gsm8k_eval: device-batch-size samples per problem at the rollout settings (its 256-token
  // cap is the same default as max-new-tokens, which sets both here)
  // (the passing counts and problems are summed over the ranks)
  const evaluate = async (step: number) => {
    const r = valShare.size === 0
      ? null
      : await runGenerative(valShare, o.tokenizer, engine, config.sequenceLen, {
        numSamples: o.deviceBatchSize,
        maxNewTokens: o.maxNewTokens,
        temperature: o.temperature,
        topK: o.topK,
        quiet: true,
      });
    const counts = new Float64Array(o.deviceBatchSize + 1);
    counts[0] = r?.total ?? 0;
    if (r) r.passAtK!.forEach((p, k) => counts[k + 1] = Math.round(p * r.total));
    if (comm) await comm.allReduceSum(counts);
    loop.passAtK = Array.from(counts.subarray(1), (c) => c / counts[0]);
    metrics?.record(step, Object.fromEntries(loop.passAtK.map((p, k) => [`pass@k/pass@${k + 1}`, p])));
    log(
      `step ${padStep(step)} | ${loop.passAtK.map((p, k) => `pass@${k + 1}: ${p.toFixed(4)}`).join(", ")}`,
    );
  };

  const settings: RolloutSettings = {
    numSamples: o.numSamples,
    deviceBatchSize: o.deviceBatchSize,
    maxNewTokens: o.maxNewTokens,
    temperature: o.temperature,
    topK: o.topK,
    contextLen: config.sequenceLen,
    seed: o.seed,
  };
  const passesPerProblem = o.numSamples / o.deviceBatchSize;
  const clock = new EtaClock();
  // micro-batch = one sampling pass of device-batch-size rows and its backward
  const inStep = new StepProgress("step", o.examplesPerStep * passesPerProblem);
  // per step, summed over the ranks at its end: its statistics
  const sums = new Float64Array(6);
  let step = startStep;
  try {
    for (;; step++) {
      const last = step >= numSteps; // a run resumed with a smaller --num-steps ends at once
      if (o.stopAfter > 0 && step >= o.stopAfter && step > startStep) stop.request();
      // this step's decision: a stop asked of any rank stops every rank after this same step (the agreed
      // value decides, so a signal landing during the collective waits for the next step on every rank)
      const stopNow = await session.agreeStop(stop.requested);
      const resumedHere = resumed !== null && step === startStep;
      if (o.evalEvery > 0 && !resumedHere && (last || step % o.evalEvery === 0)) await evaluate(step);
      const periodicSave = o.saveEvery > 0 && step > startStep && step % o.saveEvery === 0;
      if (last || periodicSave || stopNow) await save(step);
      if (last || stopNow) break;

      // rollouts, weighted backward passes and one optimizer step (rl_step.ts)
      const t0 = performance.now();
      inStep.start(step);
      const lrm = 1 - step / numSteps;
      const r = await rlStep({
        model,
        engine,
        tokenizer: o.tokenizer,
        task: train,
        step,
        examplesPerStep: o.examplesPerStep,
        settings,
        rank,
        worldSize,
        optim: {
          ...stageLearningRates(o, config.nEmbd, o.initLrFrac * lrm),
          muonMomentum: RL_MUON_MOMENTUM,
          weightDecay: o.weightDecay,
        },
        onProblem: (done) => inStep.tick(done),
      });
      inStep.end();
      const dt = (performance.now() - t0) / 1000;

      // logging: mean reward, mean sequence length (prompt included, as nanochat), throughput, ETA, over the
      // ranks: [reward sum, samples, sequence tokens, sampled tokens, loss, skipped problems]
      sums.set([r.rewards.reduce((a, x) => a + x, 0), r.rewards.length, r.sequenceTokens, r.sampledTokens]);
      sums[4] = r.loss;
      sums[5] = r.skipped;
      if (comm) await comm.allReduceSum(sums);
      const [rewardSum, samples, sequenceTokens, sampledTokens, lossSum, skipped] = sums;
      const loss = lossSum / worldSize; // each rank's loss is over its share, divided by its share
      if (skipped > 0) {
        log(
          `step ${padStep(step)}: skipped ${skipped} problem(s) whose prompt fills the context of ` +
            `${config.sequenceLen} tokens`,
        );
      }
      const meanReward = rewardSum / samples;
      const meanLen = sequenceTokens / samples;
      loop.firstMeanReward ??= meanReward;
      loop.lastMeanReward = meanReward;
      loop.totalTrainingTime += dt;
      clock.add(dt);
      metrics?.record(step, {
        "reward/mean": meanReward,
        "loss/train": loss,
        "lr/lrm": lrm,
        "length/mean sequence length": meanLen,
      });
      if (step % o.logEvery === 0 || step === numSteps - 1) {
        log(
          `step ${padStep(step)}/${padStep(numSteps)} (${(100 * step / numSteps).toFixed(2)}%) | ` +
            `loss: ${loss.toFixed(6)} | mean reward: ${meanReward.toFixed(4)} | ` +
            `mean sequence length: ${meanLen.toFixed(2)} | lrm: ${lrm.toFixed(3)} | ` +
            `dt: ${(dt * 1000).toFixed(0)}ms | rollouts/sec: ${(samples / dt).toFixed(2)} | ` +
            `sampled tok/sec: ${Math.round(sampledTokens / dt)} | eta: ${clock.eta(numSteps - step - 1)}`,
        );
      }
    }
  } finally {
    inStep.end();
    stop.dispose();
    session.close();
  }

  if (master && step >= numSteps) {
    await logReportSection(o.baseDir, "Chat RL", [
      userConfig(o),
      {
        "SFT model": `${origin.tag} step ${origin.step}`,
        "Number of steps": numSteps,
        "Sequences per step": sequencesPerStep,
        "First step mean reward": loop.firstMeanReward,
        "Last step mean reward": loop.lastMeanReward,
        ...Object.fromEntries((loop.passAtK ?? []).map((p, k) => [`Final pass@${k + 1}`, p])),
        "Total training time": formatDuration(loop.totalTrainingTime),
      },
    ]);
  }
  return { steps: step, numSteps, meanReward: loop.lastMeanReward, passAtK: loop.passAtK };
}

function checkOptions(o: RlTrainOptions): void {
  const ints: [string, number, number][] = [
    ["--device-batch-size", o.deviceBatchSize, 1],
    ["--examples-per-step", o.examplesPerStep, 1],
    ["--num-samples", o.numSamples, 1],
    ["--max-new-tokens", o.maxNewTokens, 1],
    ["--top-k", o.topK, 0],
    ["--num-epochs", o.numEpochs, 1],
    ["--eval-examples", o.evalExamples, 1],
    ["--log-every", o.logEvery, 1],
  ];
  for (const [flag, v, min] of ints) {
    if (!Number.isInteger(v) || v < min) {
      throw new UserError(`${flag} must be a whole number >= ${min}, got ${v}`);
    }
  }
  if (o.numSamples % o.deviceBatchSize !== 0) {
    throw new UserError(
      `--num-samples ${o.numSamples} must be a multiple of --device-batch-size ${o.deviceBatchSize} ` +
        `(samples are drawn in passes of that many rows)`,
    );
  }
  if (!(Number.isInteger(o.numSteps) && (o.numSteps === -1 || o.numSteps >= 1))) {
    throw new UserError(
      `--num-steps must be -1 (one pass over GSM8K train per epoch) or >= 1, got ${o.numSteps}`,
    );
  }
  if (!(o.temperature >= 0)) throw new UserError(`--temperature must be >= 0, got ${o.temperature}`);
  if (!(o.initLrFrac > 0)) throw new UserError(`--init-lr-frac must be > 0, got ${o.initLrFrac}`);
}
