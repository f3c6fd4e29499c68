// `nanochat train mid`: midtraining with nanochat A's mid_train flags and defaults (stage_defaults.ts).
import type { Command } from "commander";
import { layout } from "../common/base_dir.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { trainMid } from "../train/mid_train.ts";
import { MID_DEFAULTS as D } from "../train/stage_defaults.ts";
import { globalOptions, parseIntOption, parseNumberOption } from "./context.ts";
import { addLoopFlags, addLrFlags, addSourceFlags, requireAtLeast } from "./train_flags.ts";

export function registerTrainMid(train: Command): void {
  const int = (flag: string) => parseIntOption(flag);
  const cmd = train.command("mid")
    .description(
      "midtrain the base model on the chat mixture (SmolTalk, MMLU auxiliary_train, GSM8K, identity x2, " +
        "spelling), one epoch; resumable; Ctrl-C saves and exits",
    )
    .option("--max-seq-len <n>", "context length T", int("--max-seq-len"), D.maxSeqLen)
    .option(
      "--device-batch-size <n>",
      "rows per micro-batch B",
      int("--device-batch-size"),
      D.deviceBatchSize,
    )
    .option(
      "--total-batch-size <n>",
      "tokens per optimizer step over all ranks (grad accum fills it)",
      int("--total-batch-size"),
      D.totalBatchSize,
    )
    .option(
      "--num-iterations <n>",
      "optimizer steps (-1: one epoch of the mixture)",
      int("--num-iterations"),
      D.numIterations,
    )
    .option("--eval-every <n>", "validation bpb every n steps (-1: off)", int("--eval-every"), D.evalEvery)
    .option(
      "--eval-tokens <n>",
      "validation tokens per evaluation",
      parseNumberOption("--eval-tokens"),
      D.evalTokens,
    );
  addLrFlags(cmd, D);
  addSourceFlags(cmd, "base");
  addLoopFlags(cmd, D, "checkpoint folder name (default: the base model's)");
  cmd.action(async (opts, c: Command) => {
    const { baseDir } = globalOptions(c);
    requireAtLeast(opts, 1, ["maxSeqLen", "deviceBatchSize", "totalBatchSize", "logEvery"]);
    const tokenizer = Tokenizer.load(opts.tokenizerDir ?? layout.tokenizer(baseDir));
    try {
      await trainMid({ ...opts, baseDir, tokenizer, resume: Boolean(opts.resume) });
    } finally {
      tokenizer.free();
    }
  });
}
