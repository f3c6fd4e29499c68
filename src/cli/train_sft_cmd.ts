// `nanochat train sft`: supervised finetuning with nanochat A's chat_sft flags and defaults (stage_defaults.ts).
import { type Command, Option } from "commander";
import { layout } from "../common/base_dir.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { trainSft } from "../train/sft_train.ts";
import { SFT_DEFAULTS as D } from "../train/stage_defaults.ts";
import { globalOptions, parseIntOption } from "./context.ts";
import { addLoopFlags, addLrFlags, addSourceFlags, requireAtLeast } from "./train_flags.ts";

export function registerTrainSft(train: Command): void {
  const int = (flag: string) => parseIntOption(flag);
  const cmd = train.command("sft")
    .description(
      "finetune the midtrained model on conversations (ARC, GSM8K, SmolTalk, identity, spelling), " +
        "only the assistant's tokens supervised; resumable; Ctrl-C saves and exits",
    )
    .addOption(
      new Option("--source <stage>", "start from this stage's checkpoint").choices(["mid", "base"]).default(
        "mid",
      ),
    )
    .option(
      "--device-batch-size <n>",
      "conversations per micro-batch",
      int("--device-batch-size"),
      D.deviceBatchSize,
    )
    .option(
      "--num-epochs <n>",
      "epochs over the mixture when --num-iterations is -1",
      int("--num-epochs"),
      D.numEpochs,
    )
    .option(
      "--num-iterations <n>",
      "optimizer steps (-1: from the epochs)",
      int("--num-iterations"),
      D.numIterations,
    )
    .option(
      "--target-examples-per-step <n>",
      "conversations per optimizer step over all ranks (grad accum fills it)",
      int("--target-examples-per-step"),
      D.targetExamplesPerStep,
    )
    .option("--eval-every <n>", "validation loss every n steps (-1: off)", int("--eval-every"), D.evalEvery)
    .option("--eval-steps <n>", "validation batches per evaluation", int("--eval-steps"), D.evalSteps)
    .option(
      "--eval-metrics-every <n>",
      "MMLU and ARC-Easy accuracy every n steps and at the end (-1: off)",
      int("--eval-metrics-every"),
      D.evalMetricsEvery,
    )
    .option(
      "--eval-metrics-max-problems <n>",
      "problems per task for those accuracies",
      int("--eval-metrics-max-problems"),
      D.evalMetricsMaxProblems,
    );
  addLrFlags(cmd, D);
  addSourceFlags(cmd, "mid (or --source base)");
  addLoopFlags(cmd, D, "checkpoint folder name (default: the source model's)");
  cmd.action(async (opts, c: Command) => {
    const { baseDir } = globalOptions(c);
    requireAtLeast(opts, 1, [
      "deviceBatchSize",
      "targetExamplesPerStep",
      "numEpochs",
      "evalSteps",
      "logEvery",
    ]);
    const tokenizer = Tokenizer.load(opts.tokenizerDir ?? layout.tokenizer(baseDir));
    try {
      await trainSft({ ...opts, baseDir, tokenizer, resume: Boolean(opts.resume) });
    } finally {
      tokenizer.free();
    }
  });
}
