// Training schedules, horizon and batch arithmetic, exactly as nanochat (Oct-2025, "version A") computes them:
// scripts/base_train.py (lr multiplier, Muon momentum, num_iterations, grad accumulation), scripts/mid_train.py,
// scripts/chat_sft.py, scripts/chat_rl.py and GPT.setup_optimizers (AdamW lr scale).
import { UserError } from "../common/errors.ts";

/** Python's built-in round() on a float: ties go to the even integer (round(0.5) = 0, round(2.5) = 2). */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

export interface LrScheduleOptions {
  /** Fraction of the run spent warming up (nanochat default 0). */
  warmupRatio?: number;
  /** Fraction of the run spent decaying at the end (nanochat default 0.2). */
  warmdownRatio?: number;
  /** The multiplier reached at the last step (nanochat default 0). */
  finalLrFrac?: number;
}

/**
 * base_train's LR multiplier for step `it` of `numIterations`:
 * warmup `(it+1)/warmupIters` while it < warmupIters; 1.0 while it <= N − warmdownIters (inclusive, as nanochat);
 * then `progress + (1 − progress)·finalLrFrac` with progress = (N − it)/warmdownIters.
 * warmupIters / warmdownIters use Python's round (ties to even).
 */
export function lrMultiplier(it: number, numIterations: number, options: LrScheduleOptions = {}): number {
  const { warmupRatio = 0, warmdownRatio = 0.2, finalLrFrac = 0 } = options;
  const warmupIters = pyRound(warmupRatio * numIterations);
  const warmdownIters = pyRound(warmdownRatio * numIterations);
  if (it < warmupIters) return (it + 1) / warmupIters;
  if (it <= numIterations - warmdownIters) return 1.0;
  const progress = (numIterations - it) / warmdownIters;
  return progress * 1.0 + (1 - progress) * finalLrFrac;
}

/** Muon momentum warmup: (1−f)·0.85 + f·0.95 with f = min(it/300, 1). */
export function muonMomentum(it: number): number {
  const frac = Math.min(it / 300, 1);
  return (1 - frac) * 0.85 + frac * 0.95;
}

/** mid_train's multiplier: 1 for the first 80% of progress, then linear down to 0 at progress 1. */
export function midLrMultiplier(progress: number): number {
  return progress < 0.8 ? 1 : 1 - (progress - 0.8) / 0.2;
}

/** chat_sft's multiplier: linear decay `1 − it/numIterations`. */
export function sftLrMultiplier(it: number, numIterations: number): number {
  return 1.0 - it / numIterations;
}

/** chat_rl's multiplier: linear decay `1 − it/numSteps` (same shape as SFT). */
export function rlLrMultiplier(it: number, numSteps: number): number {
  return 1.0 - it / numSteps;
}

/** The AdamW (embedding / lm_head) learning-rate scale `(model_dim/768)^-0.5` (d20, dim 1280 → 0.7746). */
export function adamwLrScale(modelDim: number): number {
  return (modelDim / 768) ** -0.5;
}

/** A stage's three learning rates for one step: the AdamW ones scaled by adamwLrScale, all by `multiplier`. */
export function stageLearningRates(
  o: { embeddingLr: number; unembeddingLr: number; matrixLr: number },
  modelDim: number,
  multiplier: number,
): { lrUnembed: number; lrEmbed: number; lrMatrix: number } {
  const scale = adamwLrScale(modelDim);
  return {
    lrUnembed: o.unembeddingLr * scale * multiplier,
    lrEmbed: o.embeddingLr * scale * multiplier,
    lrMatrix: o.matrixLr * multiplier,
  };
}

export interface HorizonOptions {
  /** Explicit step count; > 0 wins over everything else (nanochat default -1 = disabled). */
  numIterations?: number;
  /** Target training FLOPs; > 0 used when numIterations is disabled (default -1). */
  targetFlops?: number;
  /** Tokens : params ratio; > 0 used last (nanochat default 20, Chinchilla). */
  targetParamDataRatio?: number;
  /** All model parameters (nanochat counts every parameter, embeddings included). */
  numParams: number;
  /** Estimated FLOPs per token (forward + backward). */
  flopsPerToken: number;
  /** Tokens per optimizer step. */
  totalBatchSize: number;
}

export type HorizonSource = "num_iterations" | "target_flops" | "target_param_data_ratio";

/** Like numIterationsFor, also saying which setting decided the horizon (for logging). */
export function trainingHorizon(options: HorizonOptions): { numIterations: number; source: HorizonSource } {
  const { numIterations = -1, targetFlops = -1, targetParamDataRatio = 20 } = options;
  const { numParams, flopsPerToken, totalBatchSize } = options;
  if (numIterations > 0) return { numIterations, source: "num_iterations" };
  if (!(totalBatchSize > 0)) throw new UserError(`total batch size must be positive, got ${totalBatchSize}`);
  if (targetFlops > 0) {
    if (!(flopsPerToken > 0)) {
      throw new UserError(`cannot derive the horizon from target FLOPs: flops per token is ${flopsPerToken}`);
    }
    return { numIterations: pyRound(targetFlops / (flopsPerToken * totalBatchSize)), source: "target_flops" };
  }
  if (targetParamDataRatio > 0) {
    return {
      numIterations: floorDiv(targetParamDataRatio * numParams, totalBatchSize),
      source: "target_param_data_ratio",
    };
  }
  throw new UserError(
    "no training horizon: set one of --num-iterations, --target-flops or --target-param-data-ratio to a positive value",
  );
}

/**
 * The number of optimizer steps, with nanochat's precedence num_iterations > target_flops > target_param_data_ratio:
 * round(target_flops / (flops_per_token·total_batch)) or (ratio·num_params) // total_batch.
 */
export function numIterationsFor(options: HorizonOptions): number {
  return trainingHorizon(options).numIterations;
}

/** Python's `a // b` for non-negative finite numbers; exact (BigInt) when both are integers. */
function floorDiv(a: number, b: number): number {
  if (Number.isSafeInteger(a) && Number.isSafeInteger(b)) return Number(BigInt(a) / BigInt(b));
  return Math.floor(a / b);
}

/**
 * Gradient accumulation steps: totalBatchSize / (B·T·worldSize), which must divide exactly. The error says which
 * total batch sizes and device batch sizes would work instead (nanochat only asserted; see nanochat issue #533).
 */
export function gradAccumSteps(totalBatchSize: number, B: number, T: number, worldSize = 1): number {
  for (
    const [name, v] of [["total batch size", totalBatchSize], ["device batch size", B], [
      "sequence length",
      T,
    ], [
      "world size",
      worldSize,
    ]] as const
  ) {
    if (!Number.isSafeInteger(v) || v <= 0) {
      throw new UserError(`${name} must be a positive integer, got ${v}`);
    }
  }
  const perStep = B * T * worldSize;
  if (totalBatchSize % perStep === 0) return totalBatchSize / perStep;
  const lower = Math.floor(totalBatchSize / perStep) * perStep;
  const upper = lower + perStep;
  const sizes = [lower, upper].filter((v) => v > 0).map((v) => String(v)).join(" or ");
  const goodB: number[] = [];
  for (let b = 1; b <= B; b++) if (totalBatchSize % (b * T * worldSize) === 0) goodB.push(b);
  const bHint = goodB.length > 0
    ? `, or a --device-batch-size that divides it (${goodB.slice(-4).join(", ")})`
    : `; no device batch size <= ${B} divides it at this sequence length and world size`;
  throw new UserError(
    `total batch size ${totalBatchSize} is not divisible by device batch size × sequence length × world size = ` +
      `${B} × ${T} × ${worldSize} = ${perStep}: use --total-batch-size ${sizes}${bHint}`,
  );
}
