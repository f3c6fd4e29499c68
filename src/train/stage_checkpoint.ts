// Checkpoints as every training stage uses them: the weights a stage starts from (the previous stage's
// latest checkpoint, fresh optimizer), an exact resume of the stage's own latest checkpoint (weights,
// optimizer, data-loader and loop state) and the save, with one meta layout for base, mid, sft and rl.
// Data-parallel stages pass their StageWorld: every rank meets at a save (rank 0 writes the model, the
// meta and its optimizer shard, rank r its shard optim_<step>_rank<r>), the meta keeps every rank's
// loader state, and a resume needs the same world size (a different one is refused, saying which).
import { UserError } from "../common/errors.ts";
import type { GPTConfig } from "../model/config.ts";
import type { Communicator } from "../model/comm.ts";
import type { GPT } from "../model/gpt.ts";
import {
  findModelTag,
  latestCheckpoint,
  loadCheckpoint,
  type LoadedCheckpoint,
  pruneCheckpoints,
  saveCheckpoint,
  saveOptimShard,
  type Stage,
  stageDir,
} from "../checkpoint/checkpoint.ts";
import { checkpointDir } from "../checkpoint/checkpoint.ts";
import { expectedShapes, modelTensors, optimTensors, restoreModel } from "../checkpoint/model_io.ts";

/** The meta every stage checkpoint carries; `loaderState` and `loopState` are the stage's own. */
export interface StageMeta<L = unknown, S = unknown> {
  step: number;
  config: GPTConfig;
  userConfig: Record<string, unknown>;
  optimStep: number;
  loaderState: L;
  loopState: S;
  modelTag: string;
  /** True when the stage ran to its horizon (speedrun judges a stage done by this). */
  final: boolean;
  /** Where the stage's starting weights came from (mid, sft, rl). */
  source?: { stage: Stage; tag: string; step: number };
  /** Data-parallel runs: ranks that saved it, and each rank's loader state (loaderState is rank 0's). */
  worldSize?: number;
  loaderStates?: L[];
}

/** This process's place in a data-parallel stage (comm null for a single process). */
export interface StageWorld {
  comm: Communicator | null;
  rank: number;
  worldSize: number;
}

/** The command that makes a stage's checkpoints, for hints. */
export const TRAIN_COMMAND: Readonly<Record<Stage, string>> = {
  base: "nanochat train base",
  mid: "nanochat train mid",
  sft: "nanochat train sft",
  rl: "nanochat train rl",
};

/** The previous stage's checkpoint a stage starts from: its weights (no optimizer state) and config. */
export interface SourceCheckpoint {
  stage: Stage;
  tag: string;
  step: number;
  config: GPTConfig;
  ckpt: LoadedCheckpoint;
}

/** Loads the latest (or the given) checkpoint of `stage`; a missing one says which command makes it. */
export async function loadSourceCheckpoint(
  baseDir: string,
  stage: Stage,
  modelTag?: string,
  step?: number,
): Promise<SourceCheckpoint> {
  let tag = modelTag;
  if (tag === undefined) {
    try {
      tag = await findModelTag(baseDir, stage);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      throw new UserError(
        `no ${stage} checkpoint in ${stageDir(baseDir, stage)}: make one with \`${
          TRAIN_COMMAND[stage]
        }\` first`,
      );
    }
  }
  const ckpt = await loadCheckpoint(checkpointDir(baseDir, stage, tag), step, { loadOptim: false });
  const config = (ckpt.meta as { config?: GPTConfig }).config;
  if (!config) {
    throw new UserError(`checkpoint ${ckpt.dir} step ${ckpt.step} has no model config in its meta`);
  }
  return { stage, tag, step: ckpt.step, config, ckpt };
}

/**
 * Restores the stage's own latest checkpoint in `dir` into `model` (weights and optimizer), or returns null
 * when there is none. A checkpoint of another model shape is an error naming the flags to change.
 */
export async function resumeStage<L, S>(
  dir: string,
  model: GPT,
  config: GPTConfig,
  world: StageWorld = { comm: null, rank: 0, worldSize: 1 },
): Promise<StageMeta<L, S> | null> {
  const latest = await latestCheckpoint(dir);
  if (latest === null) return null;
  const savedWorld = latest.optimPaths.length; // every rank writes its shard optim_<step>_rank<r>
  if (savedWorld !== world.worldSize) {
    throw new UserError(
      `checkpoint ${dir} step ${latest.step} was saved by ${savedWorld} rank(s), this run has ` +
        `${world.worldSize}: the data order and optimizer shards are per rank, so resume with ` +
        `--nproc-per-node ${savedWorld} (or WORLD_SIZE=${savedWorld}), or start a new --model-tag`,
    );
  }
  const ckpt = await loadCheckpoint(dir, latest.step, {
    expect: expectedShapes(model),
    loadOptim: true,
    rank: world.rank,
  });
  const meta = ckpt.meta as unknown as StageMeta<L, S>;
  if (JSON.stringify(meta.config) !== JSON.stringify(config)) {
    throw new UserError(
      `checkpoint ${dir} step ${ckpt.step} was trained with ${JSON.stringify(meta.config)}, ` +
        `not ${JSON.stringify(config)}: pass the same model flags, or another --model-tag`,
    );
  }
  restoreModel(model, ckpt, meta.optimStep);
  return { ...meta, loaderState: meta.loaderStates?.[world.rank] ?? meta.loaderState, step: ckpt.step };
}

/** Saves weights, optimizer state and meta atomically, then prunes to the newest `keepLast` (0: keep all). */
export async function saveStage<L, S>(
  dir: string,
  model: GPT,
  meta: Omit<StageMeta<L, S>, "optimStep">,
  keepLast: number,
  world: StageWorld = { comm: null, rank: 0, worldSize: 1 },
): Promise<void> {
  const { comm, rank } = world;
  // every rank's loader state; then rank 0 cleans leftovers, the others write their shards, and rank 0
  // writes the model, its shard and, last, the meta that makes the checkpoint complete
  const loaderStates = comm ? await comm.allGatherJson(meta.loaderState) : undefined;
  if (comm && rank !== 0) {
    await comm.barrier(); // rank 0 has cleaned the folder
    await saveOptimShard(dir, meta.step, rank, optimTensors(model));
    await comm.barrier(); // every shard is in place
    return;
  }
  const full = {
    ...meta,
    optimStep: model.getOptimStep(),
    ...(comm ? { worldSize: world.worldSize, loaderStates } : {}),
  };
  await saveCheckpoint(dir, meta.step, {
    model: modelTensors(model),
    optim: optimTensors(model),
    meta: full as unknown as Record<string, unknown>,
  }, {
    afterClean: async () => {
      if (!comm) return;
      await comm.barrier(); // the other ranks write their shards now
      await comm.barrier(); // ... and have
    },
  });
  if (keepLast > 0) await pruneCheckpoints(dir, keepLast);
  console.log(`saved checkpoint ${dir} step ${meta.step}`);
}

/** When the latest checkpoint in `dir` was written, if it ran its stage to the end (meta.final); else null. */
export async function finalCheckpointTime(dir: string): Promise<number | null> {
  const latest = await latestCheckpoint(dir);
  if (latest === null) return null;
  try {
    const meta = JSON.parse(await Deno.readTextFile(latest.metaPath));
    return meta?.final === true ? (await Deno.stat(latest.metaPath)).mtime?.getTime() ?? null : null;
  } catch {
    return null;
  }
}

/** Options as a plain JSON object for the meta and the report (no tokenizer, no paths). */
export function userConfig(o: object): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(o)) {
    if (["tokenizer", "baseDir", "dataDir", "taskDataDir"].includes(k)) continue;
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out[k] = v;
  }
  return out;
}
