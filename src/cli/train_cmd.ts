// `nanochat train base`: pretraining with nanochat's base_train flags and defaults.
import { type Command, Option } from "commander";
import { layout } from "../common/base_dir.ts";
import { UserError } from "../common/errors.ts";
import { resolveDataDir } from "../data/sources.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { trainBase } from "../train/base_train.ts";
import { BASE_DEFAULTS as D } from "../train/stage_defaults.ts";
import { registerTrainMid } from "./train_mid_cmd.ts";
import { registerTrainSft } from "./train_sft_cmd.ts";
import {
  DATA_PARALLEL_HELP,
  deviceOption,
  globalOptions,
  parseIntOption,
  parseNumberOption,
} from "./context.ts";
import { registerTrainRl } from "./train_rl_cmd.ts";

export function registerTrainCommands(program: Command): void {
  const train = program.command("train").description(
    "train the model: base (pretraining), mid (midtraining), sft (supervised finetuning), rl (GSM8K RL)",
  );
  const int = (flag: string) => parseIntOption(flag);
  const num = (flag: string) => parseNumberOption(flag);
  train.command("base")
    .addHelpText("after", DATA_PARALLEL_HELP)
    .description("pretrain a base model on the shards (resumable; Ctrl-C saves and exits)")
    .option("--depth <n>", "layers; width = 64*depth, heads = ceil(width/128)", int("--depth"), D.depth)
    .option("--max-seq-len <n>", "context length T", int("--max-seq-len"), D.maxSeqLen)
    .option(
      "--device-batch-size <n>",
      "rows per micro-batch B",
      int("--device-batch-size"),
      D.deviceBatchSize,
    )
    .option(
      "--total-batch-size <n>",
      "tokens per optimizer step (grad accum fills it)",
      int("--total-batch-size"),
      D.totalBatchSize,
    )
    .option(
      "--num-iterations <n>",
      "explicit horizon (-1: use --target-flops or the ratio)",
      int("--num-iterations"),
      D.numIterations,
    )
    .option(
      "--target-flops <n>",
      "horizon from a FLOP budget (-1: off)",
      num("--target-flops"),
      D.targetFlops,
    )
    .option(
      "--target-param-data-ratio <n>",
      "horizon as tokens = ratio x params (Chinchilla 20)",
      num("--target-param-data-ratio"),
      D.targetParamDataRatio,
    )
    .option("--embedding-lr <x>", "AdamW lr of the token embedding", num("--embedding-lr"), D.embeddingLr)
    .option("--unembedding-lr <x>", "AdamW lr of lm_head", num("--unembedding-lr"), D.unembeddingLr)
    .option("--matrix-lr <x>", "Muon lr of the block matrices", num("--matrix-lr"), D.matrixLr)
    .option("--weight-decay <x>", "AdamW weight decay", num("--weight-decay"), D.weightDecay)
    .option("--grad-clip <x>", "clip the gradient norm to this (0: off)", num("--grad-clip"), D.gradClip)
    .option("--warmup-ratio <x>", "fraction of steps warming the lr up", num("--warmup-ratio"), D.warmupRatio)
    .option(
      "--warmdown-ratio <x>",
      "fraction of steps decaying the lr at the end",
      num("--warmdown-ratio"),
      D.warmdownRatio,
    )
    .option("--final-lr-frac <x>", "lr multiplier at the last step", num("--final-lr-frac"), D.finalLrFrac)
    .option("--eval-every <n>", "validation bpb every n steps (-1: off)", int("--eval-every"), D.evalEvery)
    .option("--eval-tokens <n>", "validation tokens per evaluation", num("--eval-tokens"), D.evalTokens)
    .option(
      "--sample-every <n>",
      "print greedy samples every n steps (-1: off)",
      int("--sample-every"),
      D.sampleEvery,
    )
    .option(
      "--core-metric-every <n>",
      "CORE every n steps and at the end (-1: off; nanochat's default is 2000, off here unless asked " +
        "because it needs the eval bundle)",
      int("--core-metric-every"),
      D.coreMetricEvery,
    )
    .option(
      "--core-metric-max-per-task <n>",
      "CORE examples per task in training (-1: all)",
      int("--core-metric-max-per-task"),
      D.coreMetricMaxPerTask,
    )
    .option("--eval-bundle <dir>", "CORE bundle folder (default <base>/eval_bundle, downloaded when missing)")
    .option(
      "--save-every <n>",
      "checkpoint every n steps (-1: only at the end)",
      int("--save-every"),
      D.saveEvery,
    )
    .option(
      "--keep-last <n>",
      "keep only the newest n checkpoints (0: keep all)",
      int("--keep-last"),
      D.keepLast,
    )
    .option("--model-tag <tag>", "checkpoint folder name (default d<depth>)", "")
    .option("--resume", "continue from the latest checkpoint of this model tag")
    .addOption(
      new Option("--packing <mode>", "rows: plain token stream or BOS-aligned best fit").choices([
        "stream",
        "bestfit",
      ]).default("bestfit"),
    )
    .addOption(deviceOption())
    .option("--threads <n>", "CPU threads (0: all cores)", int("--threads"), 0)
    .option("--seed <n>", "initialization seed", int("--seed"), D.seed)
    .option("--peak-flops <x>", "device peak FLOP/s for MFU (default: a CPU estimate)", num("--peak-flops"))
    .option(
      "--stop-after <n>",
      "save and stop after this step (-1: run to the end); --resume continues",
      int("--stop-after"),
      D.stopAfter,
    )
    .option("--log-every <n>", "print a progress line every n steps", int("--log-every"), D.logEvery)
    .option("--data-dir <dir>", "read shards from this folder instead of <base>/base_data")
    .option("--tokenizer-dir <dir>", "use this tokenizer instead of <base>/tokenizer")
    .action(async (opts, cmd: Command) => {
      const { baseDir } = globalOptions(cmd);
      for (const flag of ["depth", "maxSeqLen", "deviceBatchSize", "totalBatchSize", "logEvery"] as const) {
        if (opts[flag] < 1) throw new UserError(`--${kebab(flag)} must be at least 1, got ${opts[flag]}`);
      }
      const dataDir = await resolveDataDir(baseDir, opts.dataDir);
      const tokenizer = Tokenizer.load(opts.tokenizerDir ?? layout.tokenizer(baseDir));
      await trainBase({ ...opts, baseDir, dataDir, tokenizer, resume: Boolean(opts.resume) });
    });
  registerTrainMid(train);
  registerTrainSft(train);
  registerTrainRl(train);
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
