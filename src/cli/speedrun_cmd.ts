// `nanochat speedrun`: every stage of the pipeline in order (see speedrun.ts). Defaults are nanochat's
// d20 run; on a CPU pick a small model (see the README).
import type { Command } from "commander";
import { speedrun } from "../../speedrun.ts";
import { parseIntOption, parseNumberOption } from "./context.ts";

export function registerSpeedrunCommand(program: Command): void {
  program.command("speedrun")
    .description("run the pipeline in order: data, tokenizer, pretraining, base evaluation")
    .option("--data-dir <dir>", "use local shards instead of downloading into <base>/base_data")
    .option(
      "-n, --num-shards <n>",
      "shards to download when --data-dir is not given",
      parseIntOption("--num-shards"),
      8,
    )
    .option("--vocab-size <n>", "tokenizer vocabulary size", parseIntOption("--vocab-size"), 65536)
    .option("--max-chars <n>", "characters for tokenizer training", parseNumberOption("--max-chars"), 2e9)
    .option("--depth <n>", "model depth", parseIntOption("--depth"), 20)
    .option("--max-seq-len <n>", "context length", parseIntOption("--max-seq-len"), 2048)
    .option("--device-batch-size <n>", "rows per micro-batch", parseIntOption("--device-batch-size"), 32)
    .option(
      "--total-batch-size <n>",
      "tokens per optimizer step",
      parseIntOption("--total-batch-size"),
      524288,
    )
    .option(
      "--num-iterations <n>",
      "pretraining steps (-1: Chinchilla 20x params)",
      parseIntOption("--num-iterations"),
      -1,
    )
    .option("--eval-every <n>", "validation bpb every n steps", parseIntOption("--eval-every"), 250)
    .option(
      "--eval-tokens <n>",
      "tokens per validation and per eval split",
      parseNumberOption("--eval-tokens"),
      20 * 524288,
    )
    .option("--threads <n>", "CPU threads (0: all cores)", parseIntOption("--threads"), 0)
    .action(async (opts, cmd: Command) => {
      const globals = cmd.optsWithGlobals() as { baseDir?: string };
      const trainArgs = [
        ["--depth", opts.depth],
        ["--max-seq-len", opts.maxSeqLen],
        ["--device-batch-size", opts.deviceBatchSize],
        ["--total-batch-size", opts.totalBatchSize],
        ["--num-iterations", opts.numIterations],
        ["--eval-every", opts.evalEvery],
        ["--eval-tokens", opts.evalTokens],
        ["--threads", opts.threads],
      ].flatMap(([flag, value]) => [String(flag), String(value)]);
      await speedrun({
        dataDir: opts.dataDir,
        numShards: opts.numShards,
        vocabSize: opts.vocabSize,
        maxChars: opts.maxChars,
        trainArgs,
        deviceBatchSize: opts.deviceBatchSize,
        evalTokens: opts.evalTokens,
        globalArgs: globals.baseDir ? ["--base-dir", globals.baseDir] : [],
      });
    });
}
