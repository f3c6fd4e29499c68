// `nanochat speedrun`: every stage of the pipeline in order (see speedrun.ts).
import type { Command } from "commander";
import { speedrun } from "../../speedrun.ts";
import { parseIntOption, parseNumberOption } from "./context.ts";

export function registerSpeedrunCommand(program: Command): void {
  program.command("speedrun")
    .description("run the whole pipeline in order: data, tokenizer (later stages join as they are built)")
    .option("--data-dir <dir>", "use local shards instead of downloading into <base>/base_data")
    .option(
      "-n, --num-shards <n>",
      "shards to download when --data-dir is not given",
      parseIntOption("--num-shards"),
      8,
    )
    .option("--vocab-size <n>", "tokenizer vocabulary size", parseIntOption("--vocab-size"), 65536)
    .option("--max-chars <n>", "characters for tokenizer training", parseNumberOption("--max-chars"), 2e9)
    .action(async (opts, cmd: Command) => {
      const globals = cmd.optsWithGlobals() as { baseDir?: string };
      await speedrun({
        dataDir: opts.dataDir,
        numShards: opts.numShards,
        vocabSize: opts.vocabSize,
        maxChars: opts.maxChars,
        globalArgs: globals.baseDir ? ["--base-dir", globals.baseDir] : [],
      });
    });
}
