// Midtraining, as nanochat A's mid_train: the base model's weights with a fresh optimizer, one epoch
// over the chat mixture rendered into a token stream, the lr constant for 80% of the epoch and then linear
// to 0, Muon momentum warmup, validation bpb every --eval-every steps, and an exact resume.
//
// One difference from nanochat, on purpose: --num-iterations counts optimizer steps (nanochat counts
// generated micro-batches, which stops one step early and miscounts with gradient accumulation).
import { UserError } from "../common/errors.ts";
import { formatDuration } from "../common/fs.ts";
import { countParams, flopsPerToken, type GPTConfig } from "../model/config.ts";
import { ComputeContext, type DeviceRequest } from "../model/context.ts";
import { GPT } from "../model/gpt.ts";
import { MetricsRecorder } from "../report/metrics.ts";
import { logReportSection } from "../report/section.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { renderConversation } from "../tokenizer/render.ts";
import type { Task } from "../../tasks/mod.ts";
import { checkpointDir } from "../checkpoint/checkpoint.ts";
import { restoreModel } from "../checkpoint/model_io.ts";
import { evaluateBpb } from "../eval/bpb.ts";
import { type ChatStreamState, ChatTokenStream } from "./chat_stream.ts";
import { describeMixture, midMixtures, requireRows } from "./chat_mixtures.ts";
import { loadSourceCheckpoint, resumeStage, saveStage, userConfig } from "./stage_checkpoint.ts";
import { devicePeak, EtaClock, padStep, printRunEstimate, StepProgress } from "./stage_progress.ts";
import { StopSignal } from "./stage_stop.ts";
import { gradAccumSteps, midLrMultiplier, muonMomentum, stageLearningRates } from "./schedule.ts";

/** mid_train.py's flags (dashed on the command line) plus resume, device and data options. */
export interface MidTrainOptions {
  baseDir: string;
  tokenizer: Tokenizer;
  /** Offline task data (default $NANOCHAT_TASK_DATA_DIR, else download). */
  taskDataDir?: string;
  /** Base checkpoint to start from (default: the largest d<N>, latest step). */
  sourceTag?: string;
  sourceStep?: number;
  maxSeqLen: number;
  deviceBatchSize: number;
  totalBatchSize: number;
  numIterations: number;
  embeddingLr: number;
  unembeddingLr: number;
  matrixLr: number;
  initLrFrac: number;
  weightDecay: number;
  evalEvery: number;
  evalTokens: number;
  saveEvery: number;
  keepLast: number;
  modelTag: string;
  resume: boolean;
  device: DeviceRequest;
  threads: number;
  peakFlops?: number;
  logEvery: number;
  stopAfter: number;
}

interface MidLoopState {
  smoothTrainLoss: number;
  minValBpb: number | null;
  totalTrainingTime: number;
  /** max(progress) so far: the lr schedule never goes back. */
  progress: number;
  /** Set once the epoch (or --num-iterations) is done. */
  lastStep: boolean;
}

const EMA_BETA = 0.9;

/** Runs midtraining; returns the final validation bpb (NaN when never evaluated) and the steps done. */
export async function trainMid(o: MidTrainOptions): Promise<{ finalValBpb: number; steps: number }> {
  for (
    const [flag, v] of [["--max-seq-len", o.maxSeqLen], ["--device-batch-size", o.deviceBatchSize]] as const
  ) {
    if (!Number.isInteger(v) || v < 1) throw new UserError(`${flag} must be a positive integer, got ${v}`);
  }
  // the mixture and the base checkpoint first: bad data or a missing model fails before anything is written
  const dataOpts = { dataDir: o.taskDataDir, baseDir: o.baseDir };
  const { train: trainMix, val: valMix } = await midMixtures(dataOpts);
  console.log(describeMixture("midtraining", trainMix));
  console.log(describeMixture("validation", valMix));
  const trainTask = requireRows("midtraining", trainMix, dataOpts);
  const valTask = requireRows("validation", valMix, dataOpts);
  const source = await loadSourceCheckpoint(o.baseDir, "base", o.sourceTag, o.sourceStep);
  if (source.config.vocabSize !== o.tokenizer.vocabSize) {
    throw new UserError(
      `the tokenizer has ${o.tokenizer.vocabSize} tokens but base checkpoint ${source.ckpt.dir} expects ` +
        `${source.config.vocabSize}: use the tokenizer the base model was trained with`,
    );
  }
  const config: GPTConfig = { ...source.config, sequenceLen: o.maxSeqLen };
  const B = o.deviceBatchSize;
  const T = o.maxSeqLen;
  const gradAccum = gradAccumSteps(o.totalBatchSize, B, T, 1);
  const modelTag = o.modelTag || source.tag;
  const ckptDir = checkpointDir(o.baseDir, "mid", modelTag);
  const flopsTok = flopsPerToken(config);

  const ctx = ComputeContext.create({ device: o.device, threads: o.threads });
  const computeDtype = ctx.device.computeDtypes.includes("bf16") ? "bf16" : "f32";
  const peak = devicePeak(ctx, o.threads, o.peakFlops);
  const model = GPT.create(ctx, config, { maxBatch: B, computeDtype });
  console.log(`device ${ctx.describe()}, ${computeDtype} compute`);
  console.log(
    `midtraining d${config.nLayer} (${countParams(config).total.toLocaleString("en-US")} params) from ` +
      `${source.ckpt.dir} step ${source.step}; ${o.totalBatchSize.toLocaleString("en-US")} tokens per step ` +
      `(B=${B}, T=${T}, grad accum ${gradAccum}); checkpoints in ${ckptDir}`,
  );

  let step = 0;
  let streamState: ChatStreamState | undefined;
  let loop: MidLoopState = {
    smoothTrainLoss: 0,
    minValBpb: null,
    totalTrainingTime: 0,
    progress: 0,
    lastStep: false,
  };
  let resumed = null;
  try {
    resumed = o.resume ? await resumeStage<ChatStreamState, MidLoopState>(ckptDir, model, config) : null;
    if (o.resume && resumed === null) {
      console.log(`--resume: no checkpoint in ${ckptDir} yet, starting fresh`);
    }
    if (resumed !== null) {
      step = resumed.step;
      streamState = resumed.loaderState;
      loop = resumed.loopState;
      console.log(`resumed from ${ckptDir} step ${step}`);
    } else {
      restoreModel(model, source.ckpt); // weights only: the optimizer starts fresh
    }
  } catch (err) {
    model.free();
    ctx.destroy();
    throw err;
  }

  const train = new ChatTokenStream({ task: trainTask, tokenizer: o.tokenizer, B, T, resume: streamState });
  // the number of steps: given, or one epoch estimated from the mean length of a sample of conversations
  const horizon = o.numIterations > 0
    ? o.numIterations
    : estimateEpochSteps(trainTask, o.tokenizer, B * T * gradAccum);
  const tokensPerStep = B * T * gradAccum;
  printRunEstimate({
    flopsPerStep: flopsTok * tokensPerStep,
    steps: Math.max(0, horizon - step),
    peak,
    deviceKind: ctx.device.kind,
    label: o.numIterations > 0 ? "steps" : "steps (one epoch, estimated)",
  });

  const metrics = await MetricsRecorder.open(o.baseDir, "mid", resumed ? { resumeFrom: step } : {});
  const tokenBytes = o.tokenizer.tokenBytes();
  const evalSteps = Math.max(1, Math.floor(o.evalTokens / (B * T)));
  const validate = () => {
    const val = new ChatTokenStream({ task: valTask, tokenizer: o.tokenizer, B, T });
    const batches = { next: () => Promise.resolve({ done: false as const, value: val.next() }) };
    return evaluateBpb(model, batches, evalSteps, B, T, tokenBytes);
  };

  const stop = new StopSignal();
  const save = async (final: boolean) => {
    await saveStage(ckptDir, model, {
      step,
      config,
      userConfig: userConfig(o),
      loaderState: train.state,
      loopState: loop,
      modelTag,
      final,
      source: { stage: "base", tag: source.tag, step: source.step },
    }, o.keepLast);
    metrics.markCheckpoint(step);
  };

  const inStep = new StepProgress("step", gradAccum);
  const clock = new EtaClock();
  let valBpb = Number.NaN;
  try {
    for (;;) {
      if (o.stopAfter > 0 && step >= o.stopAfter && step > (resumed?.step ?? 0)) stop.request();
      const resumedHere = resumed !== null && step === resumed.step;
      if (o.evalEvery > 0 && (loop.lastStep || step % o.evalEvery === 0) && !resumedHere) {
        valBpb = await validate();
        loop.minValBpb = Math.min(loop.minValBpb ?? Infinity, valBpb);
        metrics.record(step, { "bpb/val": valBpb });
        console.log(`step ${padStep(step)} | validation bpb: ${valBpb.toFixed(6)}`);
      }
      const periodicSave = o.saveEvery > 0 && step > (resumed?.step ?? 0) && step % o.saveEvery === 0;
      if (loop.lastStep || periodicSave || stop.requested) await save(loop.lastStep);
      if (loop.lastStep || stop.requested) break;

      // one optimizer step over gradAccum micro-batches
      const t0 = performance.now();
      inStep.start(step);
      for (let micro = 0; micro < gradAccum; micro++) {
        const batch = train.next();
        await model.backward(batch.inputs, batch.targets, B, T, 1 / gradAccum);
        inStep.tick(micro + 1);
      }
      inStep.end();
      const stats = model.lossStats();
      const loss = stats.lossSum / stats.calls;
      const approx = o.numIterations > 0 ? (step + 1) / o.numIterations : train.progress;
      loop.progress = Math.max(loop.progress, approx);
      const lrm = midLrMultiplier(loop.progress);
      await model.optimStep({
        ...stageLearningRates(o, config.nEmbd, o.initLrFrac * lrm),
        muonMomentum: muonMomentum(step),
        weightDecay: o.weightDecay,
        gradScale: 1,
      });
      model.zeroGrad();
      const dt = (performance.now() - t0) / 1000;
      step++;
      loop.lastStep = o.numIterations > 0 ? step >= o.numIterations : train.wrapped;

      loop.smoothTrainLoss = EMA_BETA * loop.smoothTrainLoss + (1 - EMA_BETA) * loss;
      const smooth = loop.smoothTrainLoss / (1 - EMA_BETA ** step);
      metrics.record(step, { "loss/train": loss, "loss/train_smooth": smooth, "lr/multiplier": lrm });
      if (step > 10) loop.totalTrainingTime += dt;
      clock.add(dt);
      const tokPerSec = tokensPerStep / dt;
      const mfu = peak ? (flopsTok * tokPerSec / peak) * 100 : Number.NaN;
      const left = o.numIterations > 0
        ? o.numIterations - step
        : Math.round(step / Math.max(loop.progress, 1e-9)) - step;
      if (step % o.logEvery === 0 || loop.lastStep) {
        console.log(
          `step ${padStep(step)} (${(100 * loop.progress).toFixed(2)}%) | loss: ${loss.toFixed(6)} | ` +
            `smooth: ${smooth.toFixed(4)} | lrm: ${lrm.toFixed(2)} | dt: ${(dt * 1000).toFixed(0)}ms | ` +
            `tok/sec: ${Math.round(tokPerSec).toLocaleString("en-US")} | ` +
            `mfu: ${Number.isNaN(mfu) ? "n/a" : mfu.toFixed(2)} | eta: ${clock.eta(left)}`,
        );
      }
    }
  } finally {
    inStep.end();
    stop.dispose();
    metrics.close();
    model.free();
    ctx.destroy();
  }

  if (loop.lastStep) {
    await logReportSection(o.baseDir, "Midtraining", [
      userConfig(o),
      {
        "Training rows": trainMix.rows,
        ...Object.fromEntries(trainMix.parts.map((p) => [`Rows of ${p.name}`, p.rows])),
        "Number of iterations": step,
        "DDP world size": 1,
      },
      {
        "Minimum validation bpb": loop.minValBpb,
        "Final validation bpb": Number.isNaN(valBpb) ? null : valBpb,
        "Total training time": formatDuration(loop.totalTrainingTime),
      },
    ]);
  }
  return { finalValBpb: valBpb, steps: step };
}

/** Steps in one epoch, from the mean rendered length of up to 256 evenly spaced conversations. */
function estimateEpochSteps(task: Task, tok: Tokenizer, tokensPerStep: number): number {
  const n = Math.min(256, task.size);
  const stride = task.size / n;
  let tokens = 0;
  for (let i = 0; i < n; i++) tokens += renderConversation(tok, task.get(Math.floor(i * stride))).ids.length;
  return Math.max(1, Math.ceil((tokens / n) * task.size / tokensPerStep));
}
