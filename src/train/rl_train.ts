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
// is exactly 0), and a fresh run refuses to write over an existing RL run of the same tag (--resume it, or
// pick another --model-tag).
import { UserError } from "../common/errors.ts";
import { formatDuration } from "../common/fs.ts";
import { layout } from "../common/base_dir.ts";
import { Progress } from "../common/progress.ts";
import { countParams, type GPTConfig } from "../model/config.ts";
import { ComputeContext, type DeviceRequest } from "../model/context.ts";
import { GPT } from "../model/gpt.ts";
import { Engine } from "../engine/engine.ts";
import { MetricsRecorder } from "../report/metrics.ts";
import { logReportSection } from "../report/section.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import {
  checkpointDir,
  checkShapes,
  findModelTag,
  latestCheckpoint,
  loadCheckpoint,
  type LoadedCheckpoint,
  pruneCheckpoints,
  saveCheckpoint,
  stageDir,
} from "../checkpoint/checkpoint.ts";
import { expectedShapes, modelTensors, optimTensors, restoreModel } from "../checkpoint/model_io.ts";
import { runGenerative } from "../eval/chat_eval.ts";
import { GSM8K } from "../../tasks/mod.ts";
import { rolloutProblem, type RolloutSettings, trainingPasses } from "./rl_rollout.ts";
import { adamwLrScale } from "./schedule.ts";

/** nanochat A's chat_rl settings (dashed on the command line), plus ours for resume and devices. */
export interface RlTrainOptions {
  baseDir: string;
  /** The SFT model's tag (default: the largest d<N> in chatsft_checkpoints); the RL run gets the same tag. */
  modelTag?: string;
  /** The SFT checkpoint step (default: the latest). */
  modelStep?: number;
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
  saveEvery: number;
  evalEvery: number;
  evalExamples: number;
  keepLast: number;
  resume: boolean;
  /** Save and stop once this many steps are done (-1: run to the end), to split a long run. */
  stopAfter: number;
  device: DeviceRequest;
  threads: number;
  seed: number;
  /** Offline task data (../shared/data/chat layout; default $NANOCHAT_TASK_DATA_DIR, else download). */
  taskDataDir?: string;
  tokenizerDir?: string;
}

/** nanochat A's chat_rl defaults: the one place `train rl` (and the speedrun) read them from. */
export const RL_DEFAULTS = {
  deviceBatchSize: 8,
  examplesPerStep: 16,
  numSamples: 16,
  maxNewTokens: 256,
  temperature: 1.0,
  topK: 50,
  embeddingLr: 0.2,
  unembeddingLr: 0.004,
  matrixLr: 0.02,
  weightDecay: 0,
  initLrFrac: 0.05,
  numEpochs: 1,
  saveEvery: 60,
  evalEvery: 60,
  evalExamples: 400,
} as const satisfies Partial<RlTrainOptions>;

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
  // ---- the SFT model to start from, and the RL run's folder (all checked before anything is written)
  const tag = o.modelTag ?? await sftTag(o.baseDir);
  const sftDir = checkpointDir(o.baseDir, "sft", tag);
  const rlDir = checkpointDir(o.baseDir, "rl", tag);
  const latest = await latestCheckpoint(rlDir);
  if (latest !== null && !o.resume) {
    throw new UserError(
      `${rlDir} already holds an RL run (step ${latest.step}): continue it with --resume, ` +
        `or start another with --model-tag`,
    );
  }
  if (o.resume && latest === null) console.log(`--resume: no checkpoint in ${rlDir} yet, starting fresh`);
  const source = latest === null
    ? await loadCheckpoint(sftDir, o.modelStep, { loadOptim: false })
    : await loadCheckpoint(rlDir, latest.step, { loadOptim: true });
  const config = (source.meta as { config?: GPTConfig }).config;
  if (!config) throw new UserError(`checkpoint ${source.dir} step ${source.step} has no model config`);
  const tokenizer = Tokenizer.load(o.tokenizerDir ?? layout.tokenizer(o.baseDir));
  if (tokenizer.vocabSize !== config.vocabSize) {
    tokenizer.free();
    throw new UserError(
      `the tokenizer has ${tokenizer.vocabSize} tokens but ${source.dir} expects ${config.vocabSize}: ` +
        `use the tokenizer the model was trained with (--tokenizer-dir)`,
    );
  }

  // ---- tasks: GSM8K train for rollouts, GSM8K test (held out) for pass@k
  let train: GSM8K;
  let val: GSM8K;
  try {
    const data = { dataDir: o.taskDataDir, baseDir: o.baseDir, quiet: true };
    train = await GSM8K.load({ ...data, split: "train" });
    val = await GSM8K.load({ ...data, split: "test" });
  } catch (err) {
    tokenizer.free();
    throw err;
  }
  const numSteps = Math.floor(train.size / o.examplesPerStep) * o.numEpochs;
  if (numSteps < 1) {
    tokenizer.free();
    throw new UserError(
      `GSM8K train has ${train.size} problems, fewer than --examples-per-step ${o.examplesPerStep}: lower it`,
    );
  }

  // ---- native model from the checkpoint (RL's optimizer starts fresh unless resuming)
  const ctx = ComputeContext.create({ device: o.device, threads: o.threads, seed: o.seed });
  const computeDtype = ctx.device.computeDtypes.includes("bf16") ? "bf16" : "f32";
  const model = GPT.create(ctx, config, { maxBatch: o.deviceBatchSize, computeDtype });
  const engine = new Engine(model, tokenizer);
  const assistantEnd = tokenizer.encodeSpecial("<|assistant_end|>");
  let startStep = 0;
  let loop: LoopState = { totalTrainingTime: 0, passAtK: null, firstMeanReward: null, lastMeanReward: null };
  let sftOrigin: unknown = { tag, step: source.step };
  let metrics: MetricsRecorder | null = null;
  const cleanup = () => {
    metrics?.close();
    model.free();
    ctx.destroy();
    tokenizer.free();
  };
  try {
    const meta = source.meta as {
      config: GPTConfig;
      optimStep?: number;
      loopState?: LoopState;
      sft?: unknown;
    };
    if (latest !== null) {
      loadInto(model, source, meta.optimStep);
      startStep = source.step;
      loop = meta.loopState ?? loop;
      sftOrigin = meta.sft ?? sftOrigin;
      console.log(`resumed from ${rlDir} step ${startStep}`);
    } else {
      loadInto(model, source, undefined);
      console.log(`starting from the SFT model ${sftDir} step ${source.step}`);
    }
    // series for the report's plots (<base>/report/metrics-rl.jsonl), continued on resume
    metrics = await MetricsRecorder.open(o.baseDir, "rl", latest ? { resumeFrom: startStep } : {});
  } catch (err) {
    cleanup();
    throw err;
  }
  const params = countParams(config);
  console.log(`device ${ctx.describe()}, ${computeDtype} compute`);
  console.log(
    `model: ${params.total.toLocaleString("en-US")} params; ${numSteps} steps of ${o.examplesPerStep} ` +
      `problems x ${o.numSamples} samples (GSM8K train: ${train.size} problems, ${o.numEpochs} epoch(s)); ` +
      `pass@k on ${Math.min(o.evalExamples, val.size)} test problems every ${o.evalEvery} steps; ` +
      `checkpoints in ${rlDir}`,
  );

  // ---- Ctrl-C / SIGTERM finish the current step, save, and exit 0; a second Ctrl-C exits at once
  let stopRequested = false;
  const onSignal = () => {
    if (stopRequested) Deno.exit(130);
    stopRequested = true;
    console.error("\ninterrupt: finishing this step, then saving a checkpoint (Ctrl-C again to quit now)");
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);

  const save = async (step: number) => {
    await saveCheckpoint(rlDir, step, {
      model: modelTensors(model),
      optim: optimTensors(model),
      meta: {
        step,
        config,
        userConfig: { ...o, baseDir: undefined },
        optimStep: model.getOptimStep(),
        loopState: loop,
        modelTag: tag,
        sft: sftOrigin,
      },
    });
    if (o.keepLast > 0) await pruneCheckpoints(rlDir, o.keepLast);
    metrics!.markCheckpoint(step);
    console.log(`saved checkpoint ${rlDir} step ${step}`);
  };

  const evaluate = async (step: number) => {
    const r = await runGenerative(val, tokenizer, engine, config.sequenceLen, {
      numSamples: o.deviceBatchSize,
      maxNewTokens: o.maxNewTokens,
      temperature: o.temperature,
      topK: o.topK,
      maxProblems: o.evalExamples,
      quiet: true,
    });
    loop.passAtK = r.passAtK!;
    metrics!.record(step, Object.fromEntries(loop.passAtK.map((p, k) => [`pass@k/pass@${k + 1}`, p])));
    console.log(
      `step ${pad(step)} | ${loop.passAtK.map((p, k) => `pass@${k + 1}: ${p.toFixed(4)}`).join(", ")}`,
    );
  };

  const settings: RolloutSettings = {
    numSamples: o.numSamples,
    deviceBatchSize: o.deviceBatchSize,
    maxNewTokens: o.maxNewTokens,
    temperature: o.temperature,
    topK: o.topK,
    seed: o.seed,
  };
  const lrScale = adamwLrScale(config.nEmbd);
  let step = startStep;
  let lastDt = Infinity;
  try {
    for (;; step++) {
      const last = step === numSteps;
      if (o.stopAfter > 0 && step >= o.stopAfter && step > startStep) stopRequested = true;
      const resumedHere = latest !== null && step === startStep;
      if (o.evalEvery > 0 && !resumedHere && (last || step % o.evalEvery === 0)) await evaluate(step);
      const periodicSave = o.saveEvery > 0 && step > startStep && step % o.saveEvery === 0;
      if (last || periodicSave || stopRequested) await save(step);
      if (last || stopRequested) break;

      // rollouts and the backward passes of each problem in turn (one problem's samples at a time, as
      // nanochat, so memory stays at device-batch-size rows); one optimizer step at the end
      const t0 = performance.now();
      const progress = new Progress(`step ${step} rollouts`, o.examplesPerStep, { quiet: lastDt < 5 });
      const rewards: number[] = [];
      let seqLenSum = 0;
      let sampled = 0;
      for (let e = 0; e < o.examplesPerStep; e++) {
        const index = (step * o.examplesPerStep + e) % train.size;
        const r = await rolloutProblem(engine, tokenizer, train, index, step, settings);
        for (const pass of trainingPasses(r, assistantEnd, o.deviceBatchSize, o.examplesPerStep)) {
          if (pass.zeroAdvantage) continue;
          await model.backwardWeighted(
            pass.inputs,
            pass.targets,
            pass.weights,
            pass.B,
            pass.T,
            pass.normalizer,
          );
        }
        rewards.push(...r.rewards);
        seqLenSum += r.sequences.reduce((a, s) => a + s.length, 0);
        sampled += r.sampledTokens;
        progress.advance(1, `mean reward so far ${mean(rewards).toFixed(4)}`);
      }
      if (!progress.options.quiet) progress.finish();
      const loss = model.lossStats().lossSum;
      const lrm = 1 - step / numSteps;
      await model.optimStep({
        lrUnembed: o.unembeddingLr * lrScale * o.initLrFrac * lrm,
        lrEmbed: o.embeddingLr * lrScale * o.initLrFrac * lrm,
        lrMatrix: o.matrixLr * o.initLrFrac * lrm,
        muonMomentum: RL_MUON_MOMENTUM,
        weightDecay: o.weightDecay,
      });
      model.zeroGrad();
      const dt = (performance.now() - t0) / 1000;
      lastDt = dt;

      // logging: mean reward, mean sequence length (prompt included, as nanochat), throughput, ETA
      const meanReward = mean(rewards);
      const meanLen = seqLenSum / rewards.length;
      loop.firstMeanReward ??= meanReward;
      loop.lastMeanReward = meanReward;
      loop.totalTrainingTime += dt;
      metrics.record(step, {
        "reward/mean": meanReward,
        "loss/train": loss,
        "lr/lrm": lrm,
        "length/mean sequence length": meanLen,
      });
      const eta = (numSteps - step - 1) * dt;
      console.log(
        `step ${pad(step)}/${pad(numSteps)} (${(100 * step / numSteps).toFixed(2)}%) | ` +
          `loss: ${loss.toFixed(6)} | mean reward: ${meanReward.toFixed(4)} | ` +
          `mean sequence length: ${meanLen.toFixed(2)} | lrm: ${lrm.toFixed(3)} | dt: ${
            (dt * 1000).toFixed(0)
          }ms | ` +
          `rollouts/sec: ${(rewards.length / dt).toFixed(2)} | sampled tok/sec: ${
            Math.round(sampled / dt)
          } | ` +
          `eta: ${formatDuration(eta)}`,
      );
    }
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
    cleanup();
  }

  if (step === numSteps) {
    await logReportSection(o.baseDir, "Chat RL", [
      { ...o, baseDir: undefined },
      {
        "SFT model": `${tag} step ${(sftOrigin as { step?: number }).step ?? "?"}`,
        "Number of steps": numSteps,
        "Sequences per step": o.examplesPerStep * o.numSamples,
        "First step mean reward": loop.firstMeanReward,
        "Last step mean reward": loop.lastMeanReward,
        ...Object.fromEntries((loop.passAtK ?? []).map((p, k) => [`Final pass@${k + 1}`, p])),
        "Total training time": formatDuration(loop.totalTrainingTime),
      },
    ]);
  }
  return { steps: step, numSteps, meanReward: loop.lastMeanReward, passAtK: loop.passAtK };
}

/** The SFT model's tag, or a clear error naming the command that makes one. */
async function sftTag(baseDir: string): Promise<string> {
  try {
    return await findModelTag(baseDir, "sft");
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    throw new UserError(
      `no SFT checkpoint in ${stageDir(baseDir, "sft")}: RL starts from the SFT model, ` +
        `make one with \`nanochat train sft\` (or name one with --model-tag)`,
    );
  }
}

/** Writes a checkpoint into the model, after checking that its tensors fit (one clear error if not). */
function loadInto(model: GPT, ckpt: LoadedCheckpoint, optimStep: number | undefined): void {
  checkShapes(`${ckpt.dir} step ${ckpt.step}`, ckpt.model, expectedShapes(model));
  restoreModel(model, ckpt, optimStep);
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
  if (!(o.temperature >= 0)) throw new UserError(`--temperature must be >= 0, got ${o.temperature}`);
  if (!(o.initLrFrac > 0)) throw new UserError(`--init-lr-frac must be > 0, got ${o.initLrFrac}`);
}

function mean(xs: number[]): number {
  return xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

function pad(n: number): string {
  return String(n).padStart(5, "0");
}
