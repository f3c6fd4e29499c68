// `nanochat eval base` (bits per byte, CORE) and `nanochat eval chat` (ARC, MMLU, GSM8K, HumanEval,
// SpellingBee, ChatCORE): parse the flags, then call the stage in src/eval/.
import { type Command, Option } from "commander";
import { UserError } from "../common/errors.ts";
import { resolveDataDir } from "../data/sources.ts";
import { PretrainLoader } from "../train/dataloader.ts";
import { evalBase } from "../eval/base_eval.ts";
import { CHAT_TASKS, parseTaskNames } from "../eval/chat_eval.ts";
import { evalChat } from "../eval/chat_run.ts";
import { TASK_DATA_ENV } from "../../tasks/mod.ts";
import {
  DATA_PARALLEL_HELP,
  deviceOption,
  globalOptions,
  parseIntOption,
  parseNumberOption,
} from "./context.ts";

const OFFLINE_NOTE =
  `Offline task data (--task-data-dir, or $${TASK_DATA_ENV}; e.g. shared/data/chat) differs from ` +
  "nanochat's datasets: ARC has its test splits only (letters A-D by position), MMLU's auxiliary_train is " +
  "partial (1,218 of 99,842 rows), SmolTalk is replaced by dolly15k (train) and oasst1 (test), and there " +
  "are two identity files (2026 and Oct 2025). Without it the datasets are downloaded from Hugging Face " +
  "into <base>/task_data.";

export function registerEvalCommands(program: Command): void {
  const evaluate = program.command("eval").description(
    "evaluate checkpoints: base (bpb, CORE), chat (ChatCORE)",
  );
  evaluate.command("base")
    .addHelpText("after", DATA_PARALLEL_HELP)
    .description(
      "evaluate a base checkpoint: bits per byte on the train and val shards (--bpb, the default) and/or " +
        "the CORE metric (--core)",
    )
    .option("--bpb", "bits per byte on the train and val splits (nanochat's base_loss)")
    .option("--core", "the CORE metric over the eval bundle's tasks (nanochat's base_eval)")
    .option(
      "--max-per-task <n>",
      "CORE examples per task after the shuffle (-1: all)",
      parseIntOption("--max-per-task"),
      -1,
    )
    .option(
      "--eval-bundle <dir>",
      "CORE bundle folder (core.yaml, eval_meta_data.csv, eval_data/); default <base>/eval_bundle, downloaded " +
        "from nanochat's address when missing. Note: prompts longer than the model's context are cropped from " +
        "the left (nanochat forwards its own models past their context)",
    )
    .option("--model-tag <tag>", "checkpoint folder (default: the largest d<N>)")
    .option("--step <n>", "checkpoint step (default: the latest)", parseIntOption("--step"))
    .option("--device-batch-size <n>", "rows per forward pass", parseIntOption("--device-batch-size"), 32)
    .option(
      "--split-tokens <n>",
      "tokens evaluated per split (bpb)",
      parseNumberOption("--split-tokens"),
      20 * 524288,
    )
    .addOption(deviceOption())
    .option("--threads <n>", "CPU threads (0: all cores)", parseIntOption("--threads"), 0)
    .option("--data-dir <dir>", "read shards from this folder instead of <base>/base_data (bpb)")
    .option("--tokenizer-dir <dir>", "use this tokenizer instead of <base>/tokenizer")
    .action(async (opts, cmd: Command) => {
      const { baseDir } = globalOptions(cmd);
      const core = Boolean(opts.core);
      const bpb = Boolean(opts.bpb) || !core;
      const dataDir = bpb ? await resolveDataDir(baseDir, opts.dataDir) : undefined;
      await evalBase({
        baseDir,
        bpb,
        core,
        modelTag: opts.modelTag,
        step: opts.step,
        deviceBatchSize: opts.deviceBatchSize,
        splitTokens: opts.splitTokens,
        maxPerTask: opts.maxPerTask,
        evalBundle: opts.evalBundle,
        device: opts.device,
        threads: opts.threads,
        tokenizerDir: opts.tokenizerDir,
        openSplit: (split, B, T, tokenizer) => {
          const loader = new PretrainLoader({ split, B, T, tokenizer, dataDir: dataDir! });
          return { batches: loader[Symbol.asyncIterator](), close: () => loader.close() };
        },
      });
    });

  evaluate.command("chat")
    .addHelpText("after", DATA_PARALLEL_HELP)
    .description(
      "evaluate a chat model on ARC-Easy, ARC-Challenge, MMLU (categorical: answer-letter logits), GSM8K, " +
        "HumanEval (in the bubblewrap code sandbox) and SpellingBee (generative: sampled and graded), and " +
        "ChatCORE (the mean centered accuracy over the first five, when all five ran; nanochat version A also " +
        "averaged SpellingBee in). Prompts longer than the model's context are cropped from the left.",
    )
    .addOption(
      new Option("-i, --source <stage>", "which model").choices(["base", "mid", "sft", "rl"]).default("sft"),
    )
    .option("-a, --task-name <names>", `tasks joined by | or , (${CHAT_TASKS.join(", ")}) or all`, "all")
    .option(
      "-t, --temperature <x>",
      "sampling temperature (0: greedy)",
      parseNumberOption("--temperature"),
      0,
    )
    .option("-m, --max-new-tokens <n>", "most tokens per completion", parseIntOption("--max-new-tokens"), 512)
    .option(
      "-n, --num-samples <n>",
      "samples per generative problem (pass@n)",
      parseIntOption("--num-samples"),
      1,
    )
    .option("-k, --top-k <n>", "top-k filter for sampling (0: off)", parseIntOption("--top-k"), 50)
    .option(
      "-b, --batch-size <n>",
      "problems per forward pass (categorical tasks)",
      parseIntOption("--batch-size"),
      8,
    )
    .option("-g, --model-tag <tag>", "checkpoint folder (default: the largest d<N>)")
    .option("-s, --step <n>", "checkpoint step (default: the latest)", parseIntOption("--step"))
    .option(
      "-x, --max-problems <n>",
      "evaluate only the first n problems of each task",
      parseIntOption("--max-problems"),
    )
    .option(
      "--task-data-dir <dir>",
      `read the datasets from this folder instead of downloading them. ${OFFLINE_NOTE}`,
    )
    .option(
      "--require-sandbox",
      "refuse to run HumanEval when the bubblewrap sandbox is unavailable (else rlimits only, with a warning)",
    )
    .addOption(deviceOption())
    .option("--threads <n>", "CPU threads (0: all cores)", parseIntOption("--threads"), 0)
    .option("--tokenizer-dir <dir>", "use this tokenizer instead of <base>/tokenizer")
    .action(async (opts, cmd: Command) => {
      const { baseDir } = globalOptions(cmd);
      if (opts.maxProblems !== undefined && opts.maxProblems < 1) {
        throw new UserError(`--max-problems must be at least 1, got ${opts.maxProblems}`);
      }
      await evalChat({
        baseDir,
        source: opts.source,
        tasks: parseTaskNames(opts.taskName),
        modelTag: opts.modelTag,
        step: opts.step,
        temperature: opts.temperature,
        maxNewTokens: opts.maxNewTokens,
        numSamples: opts.numSamples,
        topK: opts.topK,
        batchSize: opts.batchSize,
        maxProblems: opts.maxProblems,
        taskDataDir: opts.taskDataDir,
        requireSandbox: Boolean(opts.requireSandbox),
        device: opts.device,
        threads: opts.threads,
        tokenizerDir: opts.tokenizerDir,
      });
    });
}
