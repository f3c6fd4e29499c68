// `nanochat train rl`: nanochat A's chat_rl flags (dashed), defaults from RL_DEFAULTS, then the RL stage.
import type { Command } from "commander";
import { TASK_DATA_ENV } from "../../tasks/mod.ts";
import { RL_DEFAULTS, trainRl } from "../train/rl_train.ts";
import { deviceOption, globalOptions, parseIntOption, parseNumberOption } from "./context.ts";

/** Adds `rl` under the `train` command. */
export function registerTrainRl(train: Command): void {
  const int = (flag: string) => parseIntOption(flag);
  const num = (flag: string) => parseNumberOption(flag);
  const d = RL_DEFAULTS;
  train.command("rl")
    .description(
      "reinforcement learning on GSM8K from the SFT model (nanochat's chat_rl; resumable; Ctrl-C saves and exits)",
    )
    .option("--model-tag <tag>", "SFT model to start from, and the RL run's tag (default: the largest d<N>)")
    .option("--model-step <n>", "SFT checkpoint step (default: the latest)", int("--model-step"))
    .option(
      "--device-batch-size <n>",
      "rows per sampling and backward pass",
      int("--device-batch-size"),
      d.deviceBatchSize,
    )
    .option(
      "--examples-per-step <n>",
      "training problems per optimizer step",
      int("--examples-per-step"),
      d.examplesPerStep,
    )
    .option("--num-samples <n>", "samples per problem", int("--num-samples"), d.numSamples)
    .option("--max-new-tokens <n>", "most tokens per sample", int("--max-new-tokens"), d.maxNewTokens)
    .option("--temperature <x>", "sampling temperature", num("--temperature"), d.temperature)
    .option("--top-k <n>", "top-k filter for sampling (0: off)", int("--top-k"), d.topK)
    .option(
      "--embedding-lr <x>",
      "AdamW lr of the token embedding (times --init-lr-frac)",
      num("--embedding-lr"),
      d.embeddingLr,
    )
    .option(
      "--unembedding-lr <x>",
      "AdamW lr of lm_head (times --init-lr-frac)",
      num("--unembedding-lr"),
      d.unembeddingLr,
    )
    .option(
      "--matrix-lr <x>",
      "Muon lr of the block matrices (times --init-lr-frac)",
      num("--matrix-lr"),
      d.matrixLr,
    )
    .option("--weight-decay <x>", "AdamW weight decay", num("--weight-decay"), d.weightDecay)
    .option(
      "--init-lr-frac <x>",
      "starting lr as a fraction of the rates above (then linear to 0)",
      num("--init-lr-frac"),
      d.initLrFrac,
    )
    .option("--num-epochs <n>", "passes over GSM8K train", int("--num-epochs"), d.numEpochs)
    .option(
      "--save-every <n>",
      "checkpoint every n steps (-1: only at the end)",
      int("--save-every"),
      d.saveEvery,
    )
    .option(
      "--eval-every <n>",
      "pass@k on held-out problems every n steps (-1: off)",
      int("--eval-every"),
      d.evalEvery,
    )
    .option(
      "--eval-examples <n>",
      "held-out GSM8K test problems per evaluation",
      int("--eval-examples"),
      d.evalExamples,
    )
    .option("--keep-last <n>", "keep only the newest n checkpoints (0: keep all)", int("--keep-last"), 0)
    .option("--resume", "continue the RL run of this model tag from its latest checkpoint")
    .option(
      "--stop-after <n>",
      "save and stop after this step (-1: run to the end); --resume continues",
      int("--stop-after"),
      -1,
    )
    .addOption(deviceOption())
    .option("--threads <n>", "CPU threads (0: all cores)", int("--threads"), 0)
    .option("--seed <n>", "seed of the rollout sampling", int("--seed"), 42)
    .option(
      "--task-data-dir <dir>",
      `read GSM8K from this folder (../shared/data/chat layout; or $${TASK_DATA_ENV}) instead of downloading it`,
    )
    .option("--tokenizer-dir <dir>", "use this tokenizer instead of <base>/tokenizer")
    .action(async (opts, cmd: Command) => {
      const { baseDir } = globalOptions(cmd);
      await trainRl({ ...opts, baseDir, resume: Boolean(opts.resume) });
    });
}
