// Supervised finetuning, as nanochat A's chat_sft: the mid (or base) model's weights with a fresh
// optimizer, the SFT mixture in padded batches with only the assistant's tokens supervised, a fixed
// number of examples per step through gradient accumulation, the lr from init_lr_frac decaying linearly
// to 0, validation loss and MMLU / ARC-Easy accuracy along the way, and an exact resume.
//
// Differences from nanochat, on purpose: --num-iterations optimizer steps are all taken (nanochat's loop
// breaks before the last one), and a micro-batch with no supervised token is skipped instead of giving NaN.
//
// Data-parallel as nanochat's chat_sft under torchrun: rank r takes examples r, r + W, ... of the mixture
// (sft_batches.ts), gradient accumulation is divided by the world size, the library averages the
// gradients; the loss and supervised tokens of a step are summed over the ranks (a step runs the
// optimizer when any rank had a supervised token). The validation loss splits the one validation stream's
// batches over the ranks and sums (nanochat averages per-rank strided streams: ours is 1 rank's number),
// and so do the MMLU / ARC-Easy problems. Rank 0 alone logs and writes; every rank's example count is in
// the meta, so a resume at the same world is exact. With one row per micro-batch (B 1) W ranks see the
// global batches of 1 rank in the same order.
import { UserError } from "../common/errors.ts";
import { formatDuration } from "../common/fs.ts";
import { countParams, flopsPerToken, type GPTConfig } from "../model/config.ts";
import { ComputeContext } from "../model/context.ts";
import { readDistEnv } from "../dist/env.ts";
import { GPT } from "../model/gpt.ts";
import { logReportSection } from "../report/section.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { Stage } from "../checkpoint/checkpoint.ts";
import { checkpointDir } from "../checkpoint/checkpoint.ts";
import { loadChatTask, runCategorical } from "../eval/chat_eval.ts";
import type { Task } from "../../tasks/mod.ts";
import { describeMixture, requireRows, sftMixtures } from "./chat_mixtures.ts";
import { SftBatches } from "./sft_batches.ts";
import { loadSourceCheckpoint, userConfig } from "./stage_checkpoint.ts";
import { devicePeak, EtaClock, padStep, printRunEstimate, StepProgress } from "./stage_progress.ts";
import {
  describeStageDevice,
  stageComputeDtype,
  type StageRunOptions,
  StageSession,
} from "./stage_session.ts";
import { StopSignal } from "./stage_stop.ts";
import { sftLrMultiplier, stageLearningRates } from "./schedule.ts";

/** chat_sft.py's flags (dashed on the command line) plus resume, device and data options. */
export interface SftTrainOptions extends StageRunOptions {
  tokenizer: Tokenizer;
  taskDataDir?: string;
  /** Stage to start from: mid (nanochat's default) or base. */
  source: Stage;
  sourceTag?: string;
  sourceStep?: number;
  deviceBatchSize: number;
  numEpochs: number;
  numIterations: number;
  targetExamplesPerStep: number;
  embeddingLr: number;
  unembeddingLr: number;
  matrixLr: number;
  weightDecay: number;
  initLrFrac: number;
  evalEvery: number;
  evalSteps: number;
  evalMetricsEvery: number;
  evalMetricsMaxProblems: number;
  modelTag: string;
}

interface SftLoopState {
  trainLoss: number | null;
  valLoss: number | null;
  accuracies: Record<string, number>;
  totalTrainingTime: number;
}

const METRIC_TASKS = ["MMLU", "ARC-Easy"] as const;

/** Runs SFT; returns the last validation loss (NaN when never evaluated) and the steps done. */
export async function trainSft(o: SftTrainOptions): Promise<{ valLoss: number; steps: number }> {
  if (o.source !== "mid" && o.source !== "base") {
    throw new UserError(`--source must be mid or base, got "${o.source}"`);
  }
  const dist = o.dist ?? readDistEnv(Deno.env.toObject());
  const { rank, worldSize } = dist;
  const master = rank === 0;
  const log = (...args: unknown[]) => {
    if (master) console.log(...args);
  };
  const B = o.deviceBatchSize;
  if (o.targetExamplesPerStep % (B * worldSize) !== 0) {
    throw new UserError(
      `--target-examples-per-step ${o.targetExamplesPerStep} must be a multiple of --device-batch-size ${B}` +
        (worldSize > 1 ? ` x ${worldSize} ranks` : ""),
    );
  }
  const gradAccum = o.targetExamplesPerStep / (B * worldSize);
  // data and the source model first: a bad input fails before anything is written
  const dataOpts = { dataDir: o.taskDataDir, baseDir: o.baseDir };
  const { train: trainMix, val: valMix } = await sftMixtures(dataOpts);
  log(describeMixture("SFT", trainMix));
  log(describeMixture("validation", valMix));
  const trainTask = requireRows("SFT", trainMix, dataOpts);
  const valTask = requireRows("validation", valMix, dataOpts);
  const metricTasks: Task[] = [];
  if (o.evalMetricsEvery > 0) {
    for (const name of METRIC_TASKS) metricTasks.push(await loadChatTask(name, dataOpts));
  }
  const numIterations = o.numIterations > 0
    ? o.numIterations
    : Math.floor(trainTask.size / o.targetExamplesPerStep) * o.numEpochs;
  if (numIterations < 1) {
    throw new UserError(
      `${trainTask.size} SFT rows give no step of ${o.targetExamplesPerStep} examples: lower ` +
        `--target-examples-per-step or pass --num-iterations`,
    );
  }
  const source = await loadSourceCheckpoint(o.baseDir, o.source, o.sourceTag, o.sourceStep);
  if (source.config.vocabSize !== o.tokenizer.vocabSize) {
    throw new UserError(
      `the tokenizer has ${o.tokenizer.vocabSize} tokens but ${source.ckpt.dir} expects ` +
        `${source.config.vocabSize}: use the tokenizer the model was trained with`,
    );
  }
  const config: GPTConfig = source.config;
  const T = config.sequenceLen;
  const modelTag = o.modelTag || source.tag;
  const ckptDir = checkpointDir(o.baseDir, "sft", modelTag);

  const ctx = ComputeContext.create({ device: o.device, threads: o.threads });
  const computeDtype = stageComputeDtype(ctx);
  const peak = devicePeak(ctx, o.threads, o.peakFlops);
  // twice the rows for the no-gradient accuracy passes, as nanochat
  const model = GPT.create(ctx, config, { maxBatch: 2 * B, computeDtype });
  log(describeStageDevice(ctx, computeDtype, worldSize));
  log(
    `SFT d${config.nLayer} (${countParams(config).total.toLocaleString("en-US")} params) from ` +
      `${source.ckpt.dir} step ${source.step}; ${numIterations} steps of ${o.targetExamplesPerStep} examples ` +
      `(B=${B}, grad accum ${gradAccum}${
        worldSize > 1 ? ` x ${worldSize} ranks` : ""
      }); checkpoints in ${ckptDir}`,
  );

  let step = 0;
  let examples = 0;
  let loop: SftLoopState = { trainLoss: null, valLoss: null, accuracies: {}, totalTrainingTime: 0 };
  const session = await StageSession.open<number, SftLoopState>(
    o,
    { ctx, model, config, dist, ckptDir, source: source.ckpt, stage: "sft", modelTag, log },
  );
  const { comm, resumed, metrics } = session;
  if (resumed !== null) {
    step = resumed.step;
    examples = resumed.loaderState;
    loop = resumed.loopState;
  }
  const train = new SftBatches(trainTask, o.tokenizer, B, T, examples, rank, worldSize);
  // padded rows are at most T long; the estimate takes the mean row as half of T (per rank)
  if (master) {
    printRunEstimate({
      flopsPerStep: flopsPerToken(config) * (o.targetExamplesPerStep / worldSize) * (T / 2),
      steps: numIterations - step,
      peak,
      deviceKind: ctx.device.kind,
    });
  }

  // the mean over eval-steps batches of the one validation stream, batch s forwarded by rank s mod W
  const validate = async () => {
    const sums = new Float64Array(1);
    for (let s = rank; s < o.evalSteps; s += worldSize) {
      const b = new SftBatches(valTask, o.tokenizer, B, T, s * B).next();
      const losses = await model.forwardLosses(b.inputs, b.targets, b.B, b.T);
      let batchSum = 0;
      for (let i = 0; i < losses.length; i++) if (b.targets[i] >= 0) batchSum += losses[i];
      sums[0] += b.validTokens > 0 ? batchSum / b.validTokens : 0;
    }
    if (comm) await comm.allReduceSum(sums);
    return sums[0] / o.evalSteps;
  };

  const stop = new StopSignal();
  const save = () =>
    session.save(step, {
      loaderState: train.state,
      loopState: loop,
      final: step === numIterations,
      source: { stage: o.source, tag: source.tag, step: source.step },
    });
  // per step, summed over the ranks after its backward passes: [loss sum, backward calls, supervised tokens]
  const agreeStep = new Float64Array(3);

  const inStep = new StepProgress("step", gradAccum);
  const clock = new EtaClock();
  try {
    for (;;) {
      const last = step === numIterations;
      if (o.stopAfter > 0 && step >= o.stopAfter && step > (resumed?.step ?? 0)) stop.request();
      // this step's decision, fixed before anything else awaits: a stop asked of any rank stops every
      // rank after this same step
      const stopNow = await session.agreeStop(stop.requested);
      const resumedHere = resumed !== null && step === resumed.step;
      if (o.evalEvery > 0 && (last || step % o.evalEvery === 0) && !resumedHere) {
        loop.valLoss = await validate();
        metrics?.record(step, { "loss/val": loop.valLoss });
        log(`step ${padStep(step)} | validation loss: ${loop.valLoss.toFixed(6)}`);
      }
      if (metricTasks.length > 0 && !resumedHere && (last || (step > 0 && step % o.evalMetricsEvery === 0))) {
        const parts: string[] = [];
        for (const task of metricTasks) {
          const r = await runCategorical(task, o.tokenizer, model, {
            batchSize: 2 * B,
            maxProblems: o.evalMetricsMaxProblems,
            quiet: true,
            shard: comm, // the problems split over the ranks, the counts summed
          });
          loop.accuracies[task.name] = r.accuracy;
          metrics?.record(step, { [`accuracy/${task.name}`]: r.accuracy });
          parts.push(`${task.name} accuracy: ${r.accuracy.toFixed(4)} (${r.passed}/${r.total})`);
        }
        log(`step ${padStep(step)} | ${parts.join(", ")}`);
      }
      const periodicSave = o.saveEvery > 0 && step > (resumed?.step ?? 0) && step % o.saveEvery === 0;
      if (last || periodicSave || stopNow) await save();
      if (last || stopNow) break;

      const t0 = performance.now();
      inStep.start(step);
      let numTokens = 0;
      for (let micro = 0; micro < gradAccum; micro++) {
        const batch = train.next();
        if (batch.validTokens > 0) {
          await model.backward(batch.inputs, batch.targets, batch.B, batch.T, 1 / gradAccum);
          numTokens += batch.validTokens;
        }
        inStep.tick(micro + 1);
      }
      inStep.end();
      const stats = model.lossStats();
      agreeStep.set([stats.calls > 0 ? stats.lossSum : 0, stats.calls, numTokens]);
      if (comm) await comm.allReduceSum(agreeStep); // nanochat sums num_tokens over the ranks
      const [lossSum, calls] = agreeStep;
      numTokens = agreeStep[2];
      const loss = calls > 0 ? lossSum / calls : Number.NaN;
      const lrm = sftLrMultiplier(step, numIterations);
      // every rank steps (the optimizer's collectives) when any had a supervised token
      if (calls > 0) {
        await model.optimStep({
          ...stageLearningRates(o, config.nEmbd, o.initLrFrac * lrm),
          // chat_sft keeps Muon's default momentum (no warmup schedule)
          muonMomentum: 0.95,
          weightDecay: o.weightDecay,
          gradScale: 1,
        });
      }
      model.zeroGrad();
      const dt = (performance.now() - t0) / 1000;
      step++;
      loop.trainLoss = loss;
      loop.totalTrainingTime += dt;
      clock.add(dt);
      metrics?.record(step, { "loss/train": loss, "lr/multiplier": lrm });
      if (step % o.logEvery === 0 || step === numIterations) {
        log(
          `step ${padStep(step)}/${padStep(numIterations)} | loss: ${loss.toFixed(6)} | lrm: ${
            lrm.toFixed(6)
          } | ` +
            `num_tokens: ${numTokens.toLocaleString("en-US")} | dt: ${(dt * 1000).toFixed(0)}ms | ` +
            `eta: ${clock.eta(numIterations - step)}`,
        );
      }
    }
  } finally {
    inStep.end();
    stop.dispose();
    session.close();
  }

  if (master && step === numIterations) {
    await logReportSection(o.baseDir, "Chat SFT", [
      userConfig(o),
      {
        "Training rows": trainMix.rows,
        ...Object.fromEntries(trainMix.parts.map((p) => [`Rows of ${p.name}`, p.rows])),
        "Number of iterations": numIterations,
        "Training loss": loop.trainLoss,
        "Validation loss": loop.valLoss,
        ...Object.fromEntries(
          Object.entries(loop.accuracies).map(([k, v]) => [`${k} accuracy (training eval)`, v]),
        ),
        "Total training time": formatDuration(loop.totalTrainingTime),
      },
    ]);
  }
  return { valLoss: loop.valLoss ?? Number.NaN, steps: step };
}
