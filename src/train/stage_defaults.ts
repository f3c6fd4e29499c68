// One source of truth for every training stage's defaults (nanochat A = karpathy/nanochat c75fe54:
// base_train.py, mid_train.py, chat_sft.py, chat_rl.py) and for the speedrun presets built on them.
// `nanochat train <stage>` takes its flag defaults from here and `nanochat speedrun --preset` overrides
// only what its preset changes, so the two can never disagree about what a default is.

/** base_train.py's globals. */
export const BASE_DEFAULTS = {
  depth: 20,
  maxSeqLen: 2048,
  deviceBatchSize: 32,
  totalBatchSize: 524288,
  numIterations: -1,
  targetFlops: -1,
  targetParamDataRatio: 20,
  embeddingLr: 0.2,
  unembeddingLr: 0.004,
  matrixLr: 0.02,
  weightDecay: 0,
  gradClip: 1.0,
  warmupRatio: 0,
  warmdownRatio: 0.2,
  finalLrFrac: 0,
  evalEvery: 250,
  evalTokens: 20 * 524288,
  sampleEvery: 2000,
  // nanochat's default is 2000; off unless asked, because it needs the eval bundle
  coreMetricEvery: -1,
  coreMetricMaxPerTask: 500,
  saveEvery: -1,
  keepLast: 0,
  seed: 42,
  logEvery: 1,
  stopAfter: -1,
} as const;

/** mid_train.py's globals. */
export const MID_DEFAULTS = {
  maxSeqLen: 2048,
  deviceBatchSize: 32,
  totalBatchSize: 524288,
  numIterations: -1,
  embeddingLr: 0.2,
  unembeddingLr: 0.004,
  matrixLr: 0.02,
  initLrFrac: 1.0,
  weightDecay: 0,
  evalEvery: 150,
  evalTokens: 20 * 524288,
  saveEvery: -1,
  keepLast: 0,
  logEvery: 1,
  stopAfter: -1,
} as const;

/** chat_sft.py's globals. */
export const SFT_DEFAULTS = {
  deviceBatchSize: 4,
  numEpochs: 1,
  numIterations: -1,
  targetExamplesPerStep: 32,
  embeddingLr: 0.2,
  unembeddingLr: 0.004,
  matrixLr: 0.02,
  weightDecay: 0,
  initLrFrac: 0.02,
  evalEvery: 100,
  evalSteps: 100,
  evalMetricsEvery: 200,
  evalMetricsMaxProblems: 1024,
  saveEvery: -1,
  keepLast: 0,
  logEvery: 1,
  stopAfter: -1,
} as const;

/** chat_rl.py's globals (the RL stage reads them). */
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
  // -1: nanochat's horizon, (GSM8K train // examples per step) x epochs; a number caps it (the lr still
  // decays to 0 over it)
  numSteps: -1,
  saveEvery: 60,
  evalEvery: 60,
  evalExamples: 400,
  keepLast: 0,
  logEvery: 1,
  stopAfter: -1,
  seed: 42,
} as const;

/** A preset: the flags each stage gets on top of its defaults (absent = the stage's default). */
export interface SpeedrunPreset {
  description: string;
  /** Processes (one per device) for the data-parallel stages: train base, eval base, eval chat, train rl. */
  nprocPerNode: number;
  /** Pretraining shards to download when no --data-dir is given. */
  numShards: number;
  vocabSize: number;
  maxChars: number;
  base: Partial<Record<keyof typeof BASE_DEFAULTS, number>>;
  /** `eval base`: rows per forward pass, tokens per split, CORE examples per task (-1: all). */
  baseEval: { deviceBatchSize: number; splitTokens: number; maxPerTask: number };
  mid: Partial<Record<keyof typeof MID_DEFAULTS, number>> & { maxSeqLen?: number };
  sft: Partial<Record<keyof typeof SFT_DEFAULTS, number>>;
  rl: Partial<Record<keyof typeof RL_DEFAULTS, number>>;
  /** `eval chat` after mid and SFT: problems per task (-1: all), new tokens. */
  chatEval: { maxProblems: number; maxNewTokens: number; batchSize: number };
}

/**
 * cpu: every stage on a 2-core machine in about 20 minutes on the shared offline data (a d2 model on
 * 256-token rows; its numbers show the pipeline works, not that the model is good). d20: speedrun.sh (A)
 * for one 8xH100 node. d32: run1000.sh (A).
 */
export const SPEEDRUN_PRESETS: Readonly<Record<"cpu" | "d20" | "d32", SpeedrunPreset>> = {
  cpu: {
    description: "every stage on this machine's CPU in about 20 minutes (a tiny d2 model)",
    nprocPerNode: 1,
    numShards: 4, // dev/runcpu.sh downloads 4 (the last one is the validation split)
    vocabSize: 4096,
    maxChars: 20_000_000,
    base: {
      depth: 2,
      maxSeqLen: 256,
      deviceBatchSize: 8,
      totalBatchSize: 8192,
      numIterations: 300,
      evalEvery: 100,
      evalTokens: 16384,
      sampleEvery: -1,
      logEvery: 20,
    },
    baseEval: { deviceBatchSize: 8, splitTokens: 16384, maxPerTask: 16 },
    mid: {
      maxSeqLen: 256,
      deviceBatchSize: 8,
      totalBatchSize: 8192,
      numIterations: 150,
      evalEvery: 50,
      evalTokens: 16384,
      logEvery: 10,
    },
    sft: {
      deviceBatchSize: 8,
      targetExamplesPerStep: 32,
      numIterations: 100,
      evalEvery: 50,
      evalSteps: 8,
      evalMetricsEvery: 100,
      evalMetricsMaxProblems: 32,
      logEvery: 10,
    },
    rl: {
      deviceBatchSize: 4,
      examplesPerStep: 4,
      numSamples: 4,
      maxNewTokens: 64,
      numSteps: 40,
      evalEvery: 20,
      evalExamples: 16,
    },
    chatEval: { maxProblems: 100, maxNewTokens: 128, batchSize: 8 },
  },
  d20: {
    description: "nanochat A's speedrun.sh: d20 on one 8xH100 node (~4 hours)",
    nprocPerNode: 8,
    numShards: 240,
    vocabSize: 65536,
    maxChars: 2_000_000_000,
    base: { depth: 20 },
    baseEval: { deviceBatchSize: 32, splitTokens: 20 * 524288, maxPerTask: -1 },
    mid: {},
    sft: {},
    rl: {},
    chatEval: { maxProblems: -1, maxNewTokens: 512, batchSize: 8 },
  },
  d32: {
    description: "nanochat A's run1000.sh: d32 on one 8xH100 node (~42 hours)",
    nprocPerNode: 8,
    numShards: 800,
    vocabSize: 65536,
    maxChars: 4_000_000_000,
    base: { depth: 32, deviceBatchSize: 8 },
    baseEval: { deviceBatchSize: 8, splitTokens: 20 * 524288, maxPerTask: -1 },
    mid: { deviceBatchSize: 8 },
    sft: {},
    rl: {},
    chatEval: { maxProblems: -1, maxNewTokens: 512, batchSize: 8 },
  },
};

export type PresetName = keyof typeof SPEEDRUN_PRESETS;
