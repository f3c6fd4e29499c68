// Midtraining, as nanochat A's mid_train: the base model's weights with a fresh optimizer, one epoch
// over the chat mixture rendered into a token stream, the lr constant for 80% of the epoch and then linear
// to 0, Muon momentum warmup, validation bpb every --eval-every steps, and an exact resume.
//
// One difference from nanochat, on purpose: --num-iterations counts optimizer steps (nanochat counts
// generated micro-batches, which stops one step early and miscounts with gradient accumulation).
//
// Data-parallel as nanochat's mid_train under torchrun: rank r renders conversations r, r + W, ... of the
// mixture into its own token stream (chat_stream.ts), gradient accumulation is divided by the world size,
// the library averages the gradients. Each step the ranks agree on the stop, the epoch's end (any rank's
// stream wrapped) and the progress (the largest, so every rank uses one lr; nanochat lets each rank use
// its own cursor's). Validation bpb splits the one validation stream's batches over the ranks; rank 0
// alone logs and writes; every rank's stream state is in the meta, so a resume at the same world is exact.
import { UserError } from "../common/errors.ts";
import { formatDuration } from "../common/fs.ts";
import { countParams, flopsPerToken, type GPTConfig } from "../model/config.ts";
import { ComputeContext } from "../model/context.ts";
import { readDistEnv } from "../dist/env.ts";
import { GPT } from "../model/gpt.ts";
import { logReportSection } from "../report/section.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { renderConversation } from "../tokenizer/render.ts";
import type { Task } from "../../tasks/mod.ts";
import { checkpointDir } from "../checkpoint/checkpoint.ts";
import { evaluateBpb } from "../eval/bpb.ts";
import { type ChatStreamState, ChatTokenStream } from "./chat_stream.ts";
import { describeMixture, midMixtures, requireRows } from "./chat_mixtures.ts";
import { loadSourceCheckpoint, userConfig } from "./stage_checkpoint.ts";
import { devicePeak, EtaClock, padStep, printRunEstimate, StepProgress } from "./stage_progress.ts";
import {
  describeStageDevice,
  stageComputeDtype,
  type StageRunOptions,
  StageSession,
} from "./stage_session.ts";
import { StopSignal } from "./stage_stop.ts";
import { gradAccumSteps, midLrMultiplier, muonMomentum, stageLearningRates } from "./schedule.ts";

/** mid_train.py's flags (dashed on the command line) plus resume, device and data options. */
export interface MidTrainOptions extends StageRunOptions {
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
  modelTag: string;
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
  const dist = o.dist ?? readDistEnv(Deno.env.toObject());
  const { rank, worldSize } = dist;
  const master = rank === 0;
  const log = (...args: unknown[]) => {
    if (master) console.log(...args);
  };
  // the mixture and the base checkpoint first: bad data or a missing model fails before anything is written
  const dataOpts = { dataDir: o.taskDataDir, baseDir: o.baseDir };
  const { train: trainMix, val: valMix } = await midMixtures(dataOpts);
  log(describeMixture("midtraining", trainMix));
  log(describeMixture("validation", valMix));
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
  const gradAccum = gradAccumSteps(o.totalBatchSize, B, T, worldSize);
  const modelTag = o.modelTag || source.tag;
  const ckptDir = checkpointDir(o.baseDir, "mid", modelTag);
  const flopsTok = flopsPerToken(config);

  const ctx = ComputeContext.create({ device: o.device, threads: o.threads });
  const computeDtype = stageComputeDtype(ctx);
  const peak = devicePeak(ctx, o.threads, o.peakFlops);
  const model = GPT.create(ctx, config, { maxBatch: B, computeDtype });
  log(describeStageDevice(ctx, computeDtype, worldSize));
  log(
    `midtraining d${config.nLayer} (${countParams(config).total.toLocaleString("en-US")} params) from ` +
      `${source.ckpt.dir} step ${source.step}; ${o.totalBatchSize.toLocaleString("en-US")} tokens per step ` +
      `(B=${B}, T=${T}, grad accum ${gradAccum}${
        worldSize > 1 ? ` x ${worldSize} ranks` : ""
      }); checkpoints in ${ckptDir}`,
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
  const session = await StageSession.open<ChatStreamState, MidLoopState>(
    o,
    { ctx, model, config, dist, ckptDir, source: source.ckpt, stage: "mid", modelTag, log },
  );
  const { comm, resumed, metrics } = session;
  if (resumed !== null) {
    step = resumed.step;
    streamState = resumed.loaderState;
    loop = resumed.loopState;
  }

  const train = new ChatTokenStream({
    task: trainTask,
    tokenizer: o.tokenizer,
    B,
    T,
    rank,
    world: worldSize,
    resume: streamState,
  });
  // the number of steps: given, or one epoch estimated from the mean length of a sample of conversations
  const tokensPerStep = B * T * gradAccum; // per rank
  const horizon = o.numIterations > 0
    ? o.numIterations
    : estimateEpochSteps(trainTask, o.tokenizer, tokensPerStep * worldSize);
  if (master) {
    printRunEstimate({
      flopsPerStep: flopsTok * tokensPerStep,
      steps: Math.max(0, horizon - step),
      peak,
      deviceKind: ctx.device.kind,
      label: o.numIterations > 0 ? "steps" : "steps (one epoch, estimated)",
    });
  }

  const tokenBytes = o.tokenizer.tokenBytes();
  const evalSteps = Math.max(1, Math.floor(o.evalTokens / (B * T)));
  const validate = () => {
    // every rank reads the one validation stream and forwards its share of the batches (bpb.ts)
    const val = new ChatTokenStream({ task: valTask, tokenizer: o.tokenizer, B, T });
    const batches = { next: () => Promise.resolve({ done: false as const, value: val.next() }) };
    return evaluateBpb(model, batches, evalSteps, B, T, tokenBytes, comm);
  };

  const stop = new StopSignal();
  const save = (final: boolean) =>
    session.save(step, {
      loaderState: train.state,
      loopState: loop,
      final,
      source: { stage: "base", tag: source.tag, step: source.step },
    });
  // per step, summed over the ranks at its end: [loss, wrapped, progress of each rank in its own slot]
  const agreeStep = new Float64Array(2 + worldSize);

  const inStep = new StepProgress("step", gradAccum);
  const clock = new EtaClock();
  let valBpb = Number.NaN;
  try {
    for (;;) {
      if (o.stopAfter > 0 && step >= o.stopAfter && step > (resumed?.step ?? 0)) stop.request();
      // this step's decision, fixed before anything else awaits: a stop asked of any rank stops every
      // rank after this same step
      const stopNow = await session.agreeStop(stop.requested);
      const resumedHere = resumed !== null && step === resumed.step;
      if (o.evalEvery > 0 && (loop.lastStep || step % o.evalEvery === 0) && !resumedHere) {
        valBpb = await validate();
        loop.minValBpb = Math.min(loop.minValBpb ?? Infinity, valBpb);
        metrics?.record(step, { "bpb/val": valBpb });
        log(`step ${padStep(step)} | validation bpb: ${valBpb.toFixed(6)}`);
      }
      const periodicSave = o.saveEvery > 0 && step > (resumed?.step ?? 0) && step % o.saveEvery === 0;
      if (loop.lastStep || periodicSave || stopNow) await save(loop.lastStep);
      if (loop.lastStep || stopNow) break;

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
      let loss = stats.lossSum / stats.calls;
      let approx = o.numIterations > 0 ? (step + 1) / o.numIterations : train.progress;
      let wrapped = train.wrapped;
      if (comm) {
        agreeStep.fill(0);
        agreeStep[0] = loss;
        agreeStep[1] = wrapped ? 1 : 0;
        agreeStep[2 + rank] = approx;
        await comm.allReduceSum(agreeStep);
        loss = agreeStep[0] / worldSize; // the mean over the global batch (equal micro-batch sizes)
        wrapped = agreeStep[1] > 0; // nanochat: last_step all-reduced with MAX
        approx = Math.max(...agreeStep.subarray(2));
      }
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
      loop.lastStep = o.numIterations > 0 ? step >= o.numIterations : wrapped;

      loop.smoothTrainLoss = EMA_BETA * loop.smoothTrainLoss + (1 - EMA_BETA) * loss;
      const smooth = loop.smoothTrainLoss / (1 - EMA_BETA ** step);
      metrics?.record(step, { "loss/train": loss, "loss/train_smooth": smooth, "lr/multiplier": lrm });
      if (step > 10) loop.totalTrainingTime += dt;
      clock.add(dt);
      const tokPerSec = tokensPerStep * worldSize / dt;
      const mfu = peak ? (flopsTok * tokPerSec / (peak * worldSize)) * 100 : Number.NaN;
      const left = o.numIterations > 0
        ? o.numIterations - step
        : Math.round(step / Math.max(loop.progress, 1e-9)) - step;
      if (step % o.logEvery === 0 || loop.lastStep) {
        log(
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
    session.close();
  }

  if (master && loop.lastStep) {
    await logReportSection(o.baseDir, "Midtraining", [
      userConfig(o),
      {
        "Training rows": trainMix.rows,
        ...Object.fromEntries(trainMix.parts.map((p) => [`Rows of ${p.name}`, p.rows])),
        "Number of iterations": step,
        "DDP world size": worldSize,
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
