// `nanochat eval base --bpb`: bits per byte of a base checkpoint on the train and val splits.
import type { Command } from "commander";
import { layout } from "../common/base_dir.ts";
import { UserError } from "../common/errors.ts";
import { resolveDataDir } from "../data/sources.ts";
import type { GPTConfig } from "../model/config.ts";
import { ComputeContext } from "../model/context.ts";
import { GPT } from "../model/gpt.ts";
import { logReportSection } from "../report/section.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { checkpointDir, findModelTag, loadCheckpoint } from "../checkpoint/checkpoint.ts";
import { PretrainLoader } from "../train/dataloader.ts";
import { evaluateBpb } from "../eval/bpb.ts";
import { restoreModel } from "../checkpoint/model_io.ts";
import { deviceOption, globalOptions, parseIntOption, parseNumberOption } from "./context.ts";

export function registerEvalCommands(program: Command): void {
  const evaluate = program.command("eval").description("evaluate checkpoints");
  evaluate.command("base")
    .description("evaluate a base checkpoint: bits per byte on train and val shards")
    .option("--bpb", "bits per byte on the train and val splits (the only evaluation built so far)", true)
    .option("--model-tag <tag>", "checkpoint folder (default: the largest d<N>)")
    .option("--step <n>", "checkpoint step (default: the latest)", parseIntOption("--step"))
    .option("--device-batch-size <n>", "rows per forward pass", parseIntOption("--device-batch-size"), 32)
    .option(
      "--split-tokens <n>",
      "tokens evaluated per split",
      parseNumberOption("--split-tokens"),
      20 * 524288,
    )
    .addOption(deviceOption())
    .option("--threads <n>", "CPU threads (0: all cores)", parseIntOption("--threads"), 0)
    .option("--data-dir <dir>", "read shards from this folder instead of <base>/base_data")
    .option("--tokenizer-dir <dir>", "use this tokenizer instead of <base>/tokenizer")
    .action(async (opts, cmd: Command) => {
      const { baseDir } = globalOptions(cmd);
      const tag = opts.modelTag ?? await findModelTag(baseDir, "base");
      const dir = checkpointDir(baseDir, "base", tag);
      const ckpt = await loadCheckpoint(dir, opts.step, { loadOptim: false });
      const config = (ckpt.meta as { config: GPTConfig }).config;
      const tokenizer = Tokenizer.load(opts.tokenizerDir ?? layout.tokenizer(baseDir));
      if (tokenizer.vocabSize !== config.vocabSize) {
        throw new UserError(
          `the tokenizer has ${tokenizer.vocabSize} tokens but the checkpoint expects ${config.vocabSize}: ` +
            `use the tokenizer it was trained with (--tokenizer-dir)`,
        );
      }
      const dataDir = await resolveDataDir(baseDir, opts.dataDir);
      const B = opts.deviceBatchSize;
      const T = config.sequenceLen;
      const steps = Math.floor(opts.splitTokens / (B * T));
      if (steps < 1) {
        throw new UserError(`--split-tokens ${opts.splitTokens} is less than one batch (${B * T} tokens)`);
      }
      const ctx = ComputeContext.create({ device: opts.device, threads: opts.threads });
      const model = GPT.create(ctx, config, { maxBatch: B });
      try {
        restoreModel(model, ckpt);
        const tokenBytes = tokenizer.tokenBytes();
        const result: Record<string, number> = {};
        for (const split of ["train", "val"] as const) {
          const loader = new PretrainLoader({ split, B, T, tokenizer, dataDir });
          try {
            result[`${split} bpb`] = await evaluateBpb(
              model,
              loader[Symbol.asyncIterator](),
              steps,
              B,
              T,
              tokenBytes,
            );
          } finally {
            loader.close();
          }
          console.log(`${tag} step ${ckpt.step}: ${split} bpb ${result[`${split} bpb`].toFixed(6)}`);
        }
        await logReportSection(baseDir, "Base model loss", [{
          model: `${tag} step ${ckpt.step}`,
          ...result,
        }]);
      } finally {
        model.free();
        ctx.destroy();
      }
    });
}
