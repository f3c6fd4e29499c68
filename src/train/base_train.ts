// Base-model pretraining, as nanochat's base_train: the horizon from the flags, gradient accumulation,
// the LR and Muon-momentum schedules, periodic validation bpb, samples and checkpoints, and an exact
// resume from the latest checkpoint. Reads top to bottom like the loop it is.
// Data-parallel: every rank runs this same loop on its stride of the data (world from readDistEnv); the
// gradients are averaged and the optimizer sharded inside the compute library; rank 0 alone logs,
// writes the model, meta, metrics and report; every rank writes its optimizer shard at each save; a
// stop request (Ctrl-C, SIGTERM) on any rank stops every rank after the same step.
import { UserError } from "../common/errors.ts";
import { formatDuration } from "../common/fs.ts";
import { configFromDepth, countParams, flopsPerToken, type GPTConfig } from "../model/config.ts";
import { ComputeContext } from "../model/context.ts";
import { GPT } from "../model/gpt.ts";
import { joinWorld } from "../model/comm.ts";
import { readDistEnv } from "../dist/mod.ts";
import { MetricsRecorder } from "../report/metrics.ts";
import { logReportSection } from "../report/section.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { checkpointDir } from "../checkpoint/checkpoint.ts";
import { type LoaderState, type Packing, PretrainLoader } from "./dataloader.ts";
import { evaluateBpb } from "../eval/bpb.ts";
import { evaluateCore, gptScorer } from "../eval/core.ts";
import { resumeStage, saveStage, userConfig } from "./stage_checkpoint.ts";
import { describeStageDevice, stageComputeDtype, type StageRunOptions } from "./stage_session.ts";
import { StopSignal } from "./stage_stop.ts";
import { devicePeak, EtaClock, padStep, printRunEstimate, StepProgress } from "./stage_progress.ts";
import { resolveBundle } from "../eval/core_bundle.ts";
import { greedyContinuation, SAMPLE_PROMPTS } from "./samples.ts";
import {
  gradAccumSteps,
  lrMultiplier,
  muonMomentum,
  stageLearningRates,
  trainingHorizon,
} from "./schedule.ts";

/** nanochat's base_train flags (dashed on the command line). */
export interface BaseTrainOptions extends StageRunOptions {
  dataDir: string;
  tokenizer: Tokenizer;
  depth: number;
  maxSeqLen: number;
  deviceBatchSize: number;
  totalBatchSize: number;
  numIterations: number;
  targetFlops: number;
  targetParamDataRatio: number;
  embeddingLr: number;
  unembeddingLr: number;
  matrixLr: number;
  weightDecay: number;
  gradClip: number;
  warmupRatio: number;
  warmdownRatio: number;
  finalLrFrac: number;
  evalEvery: number;
  evalTokens: number;
  sampleEvery: number;
  /** CORE every n steps and at the end (-1: off). */
  coreMetricEvery: number;
  /** CORE examples per task during training (-1: all). */
  coreMetricMaxPerTask: number;
  /** CORE bundle folder (default <base>/eval_bundle). */
  evalBundle?: string;
  modelTag: string;
  packing: Packing;
  seed: number;
}

/** What the loop carries from step to step; saved in every checkpoint so a resume continues it exactly. */
interface LoopState {
  smoothTrainLoss: number;
  minValBpb: number;
  totalTrainingTime: number;
}

const EMA_BETA = 0.9;

/** Runs pretraining; returns the final validation bpb (NaN when never evaluated). */
export async function trainBase(o: BaseTrainOptions): Promise<{ finalValBpb: number; steps: number }> {
  // ---- model shape, horizon and batch geometry
  const config: GPTConfig = configFromDepth(o.depth, o.tokenizer.vocabSize, o.maxSeqLen);
  const B = o.deviceBatchSize;
  const T = o.maxSeqLen;
  const dist = o.dist ?? readDistEnv(Deno.env.toObject());
  const { rank, worldSize } = dist;
  const master = rank === 0;
  const log = (...args: unknown[]) => {
    if (master) console.log(...args);
  };
  const gradAccum = gradAccumSteps(o.totalBatchSize, B, T, worldSize);
  const params = countParams(config);
  const flopsTok = flopsPerToken(config);
  const { numIterations, source } = trainingHorizon({
    numIterations: o.numIterations,
    targetFlops: o.targetFlops,
    targetParamDataRatio: o.targetParamDataRatio,
    numParams: params.total,
    flopsPerToken: flopsTok,
    totalBatchSize: o.totalBatchSize,
  });
  if (numIterations < 1) throw new UserError(`the horizon gives ${numIterations} iterations: raise it`);
  const modelTag = o.modelTag || `d${o.depth}`;
  const ckptDir = checkpointDir(o.baseDir, "base", modelTag);
  const ctx = ComputeContext.create({ device: o.device, threads: o.threads, seed: o.seed });
  const computeDtype = stageComputeDtype(ctx);
  const peak = devicePeak(ctx, o.threads, o.peakFlops);
  const comm = await joinWorld(ctx, dist);
  log(describeStageDevice(ctx, computeDtype, worldSize));
  log(
    `model d${o.depth}: ${params.total.toLocaleString("en-US")} params, ${
      flopsTok.toExponential(3)
    } FLOPs/token; ` +
      `${numIterations} iterations (from ${source}) of ${o.totalBatchSize.toLocaleString("en-US")} tokens ` +
      `(B=${B}, T=${T}, grad accum ${gradAccum}${
        worldSize > 1 ? ` x ${worldSize} ranks` : ""
      }); checkpoints in ${ckptDir}`,
  );

  // the estimate comes before the model is allocated: a run far too big for the device says so at once
  if (master) {
    printRunEstimate({
      flopsPerStep: flopsTok * B * T * gradAccum,
      steps: numIterations,
      peak,
      deviceKind: ctx.device.kind,
    });
  }

  // the CORE bundle is opened up front, so a missing one fails before any training
  const bundle = o.coreMetricEvery > 0 ? await resolveBundle(o.baseDir, o.evalBundle) : undefined;
  let coreMetric: number | undefined;

  // ---- native model, initialized or resumed
  const model = GPT.create(ctx, config, { maxBatch: B, computeDtype });
  model.attachComm(comm);
  const world = { comm, rank, worldSize };
  let startStep = 0;
  let loaderState: LoaderState | undefined;
  let loop: LoopState = { smoothTrainLoss: 0, minValBpb: Infinity, totalTrainingTime: 0 };
  const resumed = o.resume ? await resumeStage<LoaderState, LoopState>(ckptDir, model, config, world) : null;
  if (o.resume && resumed === null) log(`--resume: no checkpoint in ${ckptDir} yet, starting fresh`);
  if (resumed !== null) {
    startStep = resumed.step;
    loaderState = resumed.loaderState;
    loop = { ...resumed.loopState, minValBpb: resumed.loopState.minValBpb ?? Infinity };
    log(`resumed from ${ckptDir} step ${startStep}`);
  } else {
    model.initWeights(o.seed);
  }

  // series for the report's plots (<base>/report/metrics-base.jsonl), continued on resume
  const metrics = master
    ? await MetricsRecorder.open(o.baseDir, "base", resumed ? { resumeFrom: startStep } : {})
    : null;

  // ---- data
  const train = new PretrainLoader({
    split: "train",
    B,
    T,
    tokenizer: o.tokenizer,
    dataDir: o.dataDir,
    packing: o.packing,
    resumeState: loaderState,
    rank,
    worldSize,
  });
  const tokenBytes = o.tokenizer.tokenBytes();
  const evalSteps = Math.max(1, Math.floor(o.evalTokens / (B * T)));
  const validate = async () => {
    const val = new PretrainLoader({
      split: "val",
      B,
      T,
      tokenizer: o.tokenizer,
      dataDir: o.dataDir,
      packing: o.packing,
    });
    try {
      // every rank reads the whole stream and forwards its share of the batches (bpb.ts)
      return await evaluateBpb(model, val[Symbol.asyncIterator](), evalSteps, B, T, tokenBytes, comm);
    } finally {
      val.close();
    }
  };

  // ---- Ctrl-C or SIGTERM finishes the current step, saves, and exits; a second one exits at once
  const stop = new StopSignal();
  // [loss of this step, stop requested] summed over the ranks (one small collective per step)
  const agree = new Float64Array(2);

  const save = async (step: number) => {
    await saveStage(
      ckptDir,
      model,
      {
        step,
        config,
        userConfig: userConfig(o),
        loaderState: train.state,
        loopState: { ...loop, minValBpb: Number.isFinite(loop.minValBpb) ? loop.minValBpb : null },
        modelTag,
        final: step === numIterations,
      },
      o.keepLast,
      world,
    );
    metrics?.markCheckpoint(step);
  };

  let valBpb = Number.NaN;
  let step = startStep;
  const tokensPerStep = B * T * gradAccum;
  const inStep = new StepProgress("step", gradAccum);
  const clock = new EtaClock();
  try {
    for (;; step++) {
      const last = step === numIterations;
      if (o.stopAfter > 0 && step >= o.stopAfter && step > startStep) stop.request();
      // this step's decision, fixed before anything else awaits (a signal may land during any await);
      // with ranks, a request on any of them stops all after this same step
      let stopNow = stop.requested;
      if (comm) {
        agree[0] = 0;
        agree[1] = stopNow ? 1 : 0;
        await comm.allReduceSum(agree);
        stopNow = agree[1] > 0;
      }
      const resumedHere = resumed !== null && step === startStep;
      if (o.evalEvery > 0 && (last || step % o.evalEvery === 0) && !resumedHere) {
        valBpb = await validate();
        loop.minValBpb = Math.min(loop.minValBpb, valBpb);
        metrics?.record(step, { "bpb/val": valBpb });
        log(`step ${padStep(step)} | validation bpb: ${valBpb.toFixed(6)}`);
      }
      if (bundle && !resumedHere && (last || (step > 0 && step % o.coreMetricEvery === 0))) {
        const core = await evaluateCore(gptScorer(model), o.tokenizer, bundle, {
          maxPerTask: o.coreMetricMaxPerTask,
          shard: comm,
          quiet: !master,
        });
        coreMetric = core.core;
        log(`step ${padStep(step)} | CORE metric: ${core.core.toFixed(4)}`);
      }
      if (master && o.sampleEvery > 0 && !resumedHere && (last || (step > 0 && step % o.sampleEvery === 0))) {
        for (const prompt of SAMPLE_PROMPTS) {
          console.log(`  ${prompt}${await greedyContinuation(model, o.tokenizer, prompt)}`);
        }
      }
      const periodicSave = o.saveEvery > 0 && step > startStep && step % o.saveEvery === 0;
      if (last || periodicSave || stopNow) await save(step);
      if (last || stopNow) break;

      // one optimizer step over gradAccum micro-batches; their losses are read once, after the last
      const t0 = performance.now();
      inStep.start(step);
      for (let micro = 0; micro < gradAccum; micro++) {
        const batch = await train.next();
        if (batch === null) throw new Error("the training loader ended (it should loop over epochs)");
        await model.backward(
          batch.inputs as Int32Array<ArrayBuffer>,
          batch.targets as Int32Array<ArrayBuffer>,
          B,
          T,
          1 / gradAccum,
        );
        inStep.tick(micro + 1);
      }
      inStep.end();
      const stats = model.lossStats();
      let loss = stats.lossSum / stats.calls;
      if (comm) {
        agree[0] = loss;
        agree[1] = 0;
        await comm.allReduceSum(agree);
        loss = agree[0] / worldSize; // the mean over the global batch (equal micro-batch sizes)
      }
      let gradScale = 1;
      if (o.gradClip > 0) {
        const norm = model.gradNorm();
        gradScale = Math.min(1, o.gradClip / (norm + 1e-6));
      }
      const lrm = lrMultiplier(step, numIterations, {
        warmupRatio: o.warmupRatio,
        warmdownRatio: o.warmdownRatio,
        finalLrFrac: o.finalLrFrac,
      });
      await model.optimStep({
        ...stageLearningRates(o, config.nEmbd, lrm),
        muonMomentum: muonMomentum(step),
        weightDecay: o.weightDecay,
        gradScale,
      });
      model.zeroGrad();
      const dt = (performance.now() - t0) / 1000;

      // logging: a debiased EMA of the loss, throughput, MFU, ETA (time excludes the first 10 steps)
      loop.smoothTrainLoss = EMA_BETA * loop.smoothTrainLoss + (1 - EMA_BETA) * loss;
      const smooth = loop.smoothTrainLoss / (1 - EMA_BETA ** (step + 1));
      metrics?.record(step, { "loss/train": loss, "loss/train_smooth": smooth });
      if (step > 10) loop.totalTrainingTime += dt;
      const tokPerSec = tokensPerStep * worldSize / dt;
      const mfu = peak ? (flopsTok * tokPerSec / (peak * worldSize)) * 100 : Number.NaN;
      clock.add(dt);
      if (step % o.logEvery === 0 || step === numIterations - 1) {
        log(
          `step ${padStep(step)}/${padStep(numIterations)} (${(100 * step / numIterations).toFixed(2)}%) | ` +
            `loss: ${loss.toFixed(6)} | smooth: ${smooth.toFixed(4)} | lrm: ${lrm.toFixed(2)} | ` +
            `dt: ${(dt * 1000).toFixed(0)}ms | tok/sec: ${Math.round(tokPerSec).toLocaleString("en-US")} | ` +
            `mfu: ${Number.isNaN(mfu) ? "n/a" : mfu.toFixed(2)} | eta: ${
              clock.eta(numIterations - step - 1)
            }`,
        );
      }
    }
  } finally {
    inStep.end();
    stop.dispose();
    metrics?.close();
    train.close();
    model.free();
    comm?.destroy();
    ctx.destroy();
  }

  if (master && step === numIterations) {
    await logReportSection(o.baseDir, "Base model training", [
      { ...o, tokenizer: undefined, baseDir: undefined, dataDir: undefined, dist: undefined },
      {
        "Number of parameters": params.total,
        "Number of FLOPs per token": flopsTok.toExponential(6),
        "Calculated number of iterations": numIterations,
        "Number of training tokens": numIterations * o.totalBatchSize,
        "Tokens : Params ratio": (numIterations * o.totalBatchSize) / params.total,
        "Minimum validation bpb": Number.isFinite(loop.minValBpb) ? loop.minValBpb : null,
        "Final validation bpb": Number.isNaN(valBpb) ? null : valBpb,
        "CORE metric estimate": coreMetric,
        "Total training time": formatDuration(loop.totalTrainingTime),
      },
    ]);
  }
  return { finalValBpb: valBpb, steps: step };
}
