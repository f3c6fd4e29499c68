// Loads a trained checkpoint of one stage (base, mid, sft, rl) with its tokenizer into an Engine.
import { layout } from "../common/base_dir.ts";
import { UserError } from "../common/errors.ts";
import type { GPTConfig } from "../model/config.ts";
import { ComputeContext, type DeviceRequest } from "../model/context.ts";
import { GPT } from "../model/gpt.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import {
  checkpointDir,
  findModelTag,
  loadCheckpoint,
  type Stage,
  stageDir,
} from "../checkpoint/checkpoint.ts";
import { restoreModel } from "../checkpoint/model_io.ts";
import { Engine } from "./engine.ts";

/** The stages a chat model can come from. */
export const CHAT_SOURCES: readonly Stage[] = ["base", "mid", "sft", "rl"];

export interface LoadChatModelOptions {
  baseDir: string;
  source: Stage;
  /** Checkpoint folder (default: the largest d<N>). */
  modelTag?: string;
  /** Checkpoint step (default: the latest). */
  step?: number;
  /** cpu, cuda or auto (default: auto). */
  device?: DeviceRequest;
  /** CPU threads (0 or undefined: all cores). */
  threads?: number;
  /** Tokenizer folder (default: <base>/tokenizer). */
  tokenizerDir?: string;
  /** Rows of the model's batched (non-cache) calls, e.g. batched scoring; default 1. */
  maxBatch?: number;
}

export interface LoadedChatModel {
  engine: Engine;
  model: GPT;
  tokenizer: Tokenizer;
  tag: string;
  step: number;
  /** Frees the model, its compute context and the tokenizer. */
  close(): void;
}

async function hasCheckpoints(baseDir: string, source: Stage): Promise<boolean> {
  try {
    await findModelTag(baseDir, source);
    return true;
  } catch (err) {
    if (err instanceof UserError) return false;
    throw err;
  }
}

/** Loads the latest (or the given) checkpoint of `source` for inference. */
export async function loadChatModel(opts: LoadChatModelOptions): Promise<LoadedChatModel> {
  const { baseDir, source } = opts;
  if (!CHAT_SOURCES.includes(source)) {
    throw new UserError(`unknown model source "${source}": use one of ${CHAT_SOURCES.join(", ")}`);
  }
  if (opts.modelTag === undefined && !(await hasCheckpoints(baseDir, source))) {
    // every stage has its `nanochat train` command
    const how = `train one with \`nanochat train ${source}\`` +
      (source === "base" ? "" : `, or talk to another stage's model with -i (e.g. -i base)`);
    throw new UserError(`no ${source} checkpoint in ${stageDir(baseDir, source)}: ${how}`);
  }
  const tag = opts.modelTag ?? await findModelTag(baseDir, source);
  const ckpt = await loadCheckpoint(checkpointDir(baseDir, source, tag), opts.step, { loadOptim: false });
  const config = (ckpt.meta as { config?: GPTConfig }).config;
  if (!config) {
    throw new UserError(`checkpoint ${ckpt.dir} step ${ckpt.step} has no model config in its meta`);
  }
  const tokenizer = Tokenizer.load(opts.tokenizerDir ?? layout.tokenizer(baseDir));
  if (tokenizer.vocabSize !== config.vocabSize) {
    tokenizer.free();
    throw new UserError(
      `the tokenizer has ${tokenizer.vocabSize} tokens but the checkpoint expects ${config.vocabSize}: ` +
        `use the tokenizer it was trained with`,
    );
  }
  const ctx = ComputeContext.create({ device: opts.device ?? "auto", threads: opts.threads ?? 0 });
  let model: GPT | null = null;
  try {
    model = GPT.create(ctx, config, { maxBatch: opts.maxBatch ?? 1 });
    restoreModel(model, ckpt);
  } catch (err) {
    model?.free();
    ctx.destroy();
    tokenizer.free();
    throw err;
  }
  const engine = new Engine(model, tokenizer);
  const m = model;
  return {
    engine,
    model: m,
    tokenizer,
    tag,
    step: ckpt.step,
    close() {
      m.free();
      ctx.destroy();
      tokenizer.free();
    },
  };
}
