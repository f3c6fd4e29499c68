// `nanochat train rl`: nanochat A's chat_rl flags (dashed) with its defaults (stage_defaults.ts), then the
// RL stage.
import type { Command } from "commander";
import { layout } from "../common/base_dir.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { trainRl } from "../train/rl_train.ts";
import { RL_DEFAULTS as D } from "../train/stage_defaults.ts";
import { globalOptions, parseIntOption, parseNumberOption } from "./context.ts";
import { addLoopFlags, addLrFlags, addSourceFlags } from "./train_flags.ts";

/** Adds `rl` under the `train` command. */
export function registerTrainRl(train: Command): void {
  const int = (flag: string) => parseIntOption(flag);
  const cmd = train.command("rl")
    .description(
      "reinforcement learning on GSM8K from the SFT model (nanochat's chat_rl); resumable; Ctrl-C saves and exits",
    )
    .option(
      "--device-batch-size <n>",
      "rows per sampling pass and per backward pass",
      int("--device-batch-size"),
      D.deviceBatchSize,
    )
    .option(
      "--examples-per-step <n>",
      "training problems per optimizer step",
      int("--examples-per-step"),
      D.examplesPerStep,
    )
    .option("--num-samples <n>", "samples per problem", int("--num-samples"), D.numSamples)
    .option("--max-new-tokens <n>", "most tokens per sample", int("--max-new-tokens"), D.maxNewTokens)
    .option("--temperature <x>", "sampling temperature", parseNumberOption("--temperature"), D.temperature)
    .option("--top-k <n>", "top-k filter for sampling (0: off)", int("--top-k"), D.topK)
    .option("--num-epochs <n>", "passes over GSM8K train", int("--num-epochs"), D.numEpochs)
    .option(
      "--num-steps <n>",
      "steps of the run (-1: GSM8K train / examples per step, times the epochs); the lr decays to 0 over them",
      int("--num-steps"),
      D.numSteps,
    )
    .option(
      "--eval-every <n>",
      "pass@k on held-out problems every n steps (-1: off)",
      int("--eval-every"),
      D.evalEvery,
    )
    .option(
      "--eval-examples <n>",
      "held-out GSM8K test problems per evaluation",
      int("--eval-examples"),
      D.evalExamples,
    )
    .option("--seed <n>", "seed of the rollout sampling", int("--seed"), D.seed);
  addLrFlags(cmd, D);
  addSourceFlags(cmd, "sft");
  addLoopFlags(cmd, D, "checkpoint folder name (default: the SFT model's)");
  cmd.action(async (opts, c: Command) => {
    const { baseDir } = globalOptions(c);
    const tokenizer = Tokenizer.load(opts.tokenizerDir ?? layout.tokenizer(baseDir));
    try {
      await trainRl({ ...opts, baseDir, tokenizer, resume: Boolean(opts.resume) });
    } finally {
      tokenizer.free();
    }
  });
}
