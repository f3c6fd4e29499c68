// Checkpoints as every training stage uses them: the weights a stage starts from (the previous stage's
// latest checkpoint, fresh optimizer), an exact resume of the stage's own latest checkpoint (weights,
// optimizer, data-loader and loop state) and the save, with one meta layout for base, mid, sft and rl.
import { UserError } from "../common/errors.ts";
import type { GPTConfig } from "../model/config.ts";
import type { GPT } from "../model/gpt.ts";
import {
  findModelTag,
  latestCheckpoint,
  loadCheckpoint,
  type LoadedCheckpoint,
  pruneCheckpoints,
  saveCheckpoint,
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
): Promise<StageMeta<L, S> | null> {
  const latest = await latestCheckpoint(dir);
  if (latest === null) return null;
  const ckpt = await loadCheckpoint(dir, latest.step, { expect: expectedShapes(model), loadOptim: true });
  const meta = ckpt.meta as unknown as StageMeta<L, S>;
  if (JSON.stringify(meta.config) !== JSON.stringify(config)) {
    throw new UserError(
      `checkpoint ${dir} step ${ckpt.step} was trained with ${JSON.stringify(meta.config)}, ` +
        `not ${JSON.stringify(config)}: pass the same model flags, or another --model-tag`,
    );
  }
  restoreModel(model, ckpt, meta.optimStep);
  return { ...meta, step: ckpt.step };
}

/** Saves weights, optimizer state and meta atomically, then prunes to the newest `keepLast` (0: keep all). */
export async function saveStage<L, S>(
  dir: string,
  model: GPT,
  meta: Omit<StageMeta<L, S>, "optimStep">,
  keepLast: number,
): Promise<void> {
  await saveCheckpoint(dir, meta.step, {
    model: modelTensors(model),
    optim: optimTensors(model),
    meta: { ...meta, optimStep: model.getOptimStep() } as unknown as Record<string, unknown>,
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
