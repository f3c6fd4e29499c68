// The whole pipeline, top to bottom, as `nanochat speedrun` runs it. Each stage is an ordinary CLI
// command, so any stage can be rerun by hand with the same flags.
//
// Stages built so far: pretraining data, tokenizer training and evaluation, base-model pretraining and
// its bits-per-byte evaluation. Midtraining, SFT, RL, chat evaluation and the report card join this
// list as they land.
import { runCli } from "./src/cli/main.ts";
import { UserError } from "./src/common/errors.ts";

export interface SpeedrunOptions {
  /** Read shards from here instead of downloading them into <base>/base_data. */
  dataDir?: string;
  /** Shards to download when no --data-dir is given (nanochat downloads 8 before the tokenizer). */
  numShards: number;
  /** Tokenizer vocabulary size. */
  vocabSize: number;
  /** Characters of text for tokenizer training. */
  maxChars: number;
  /** Flags passed through to `train base` (depth, batch sizes, horizon, eval cadence). */
  trainArgs: string[];
  /** Rows per forward pass for `eval base`. */
  deviceBatchSize: number;
  /** Tokens per split for `eval base`. */
  evalTokens: number;
  /** Global flags passed to every stage (e.g. --base-dir). */
  globalArgs: string[];
}

/** Runs every stage in order and stops at the first that fails. */
export async function speedrun(options: SpeedrunOptions): Promise<void> {
  const dataArgs = options.dataDir ? ["--data-dir", options.dataDir] : [];
  const stages: [string, string[]][] = [];

  // 1. Pretraining shards: downloaded, unless local ones are given.
  if (!options.dataDir) stages.push(["download data", ["data", "download", "-n", String(options.numShards)]]);

  // 2. Tokenizer: train a BPE vocabulary, then compare its compression with GPT-2's and GPT-4's.
  stages.push(["train tokenizer", [
    "tokenizer",
    "train",
    "--vocab-size",
    String(options.vocabSize),
    "--max-chars",
    String(options.maxChars),
    ...dataArgs,
  ]]);
  stages.push(["evaluate tokenizer", ["tokenizer", "eval", ...dataArgs]]);

  // 3. Pretraining, then bits per byte of the result on train and val.
  stages.push(["pretrain base model", ["train", "base", ...options.trainArgs, ...dataArgs]]);
  stages.push(["evaluate base model", [
    "eval",
    "base",
    "--device-batch-size",
    String(options.deviceBatchSize),
    "--split-tokens",
    String(options.evalTokens),
    ...dataArgs,
  ]]);

  for (const [i, [name, args]] of stages.entries()) {
    console.log(`\n=== speedrun stage ${i + 1}/${stages.length}: ${name} ===`);
    const t0 = performance.now();
    const code = await runCli([...options.globalArgs, ...args]);
    if (code !== 0) {
      throw new UserError(`stage "${name}" failed (exit code ${code}); rerun: nanochat ${args.join(" ")}`);
    }
    console.log(`=== ${name}: done in ${((performance.now() - t0) / 1000).toFixed(1)}s ===`);
  }
}
