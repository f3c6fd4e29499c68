// `nanochat tokenizer train|eval|encode|decode`: build the BPE vocabulary and inspect what it does.
import type { Command } from "commander";
import { layout } from "../common/base_dir.ts";
import { UserError } from "../common/errors.ts";
import { formatDuration } from "../common/fs.ts";
import { Progress } from "../common/progress.ts";
import { iterTrainingText } from "../data/mod.ts";
import { firstRowGroupText, resolveDataDir } from "../data/sources.ts";
import { logReportSection } from "../report/section.ts";
import { compareCompression, formatComparison } from "../tokenizer/compare.ts";
import { EVAL_TEXTS } from "../tokenizer/eval_texts.ts";
import { SPECIAL_TOKENS } from "../tokenizer/special.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { visualizeTokenization } from "../tokenizer/visualize.ts";
import { bpe } from "../../ffi/bpe.ts";
import { globalOptions, parseIntOption, parseNumberOption } from "./context.ts";

// A string that exercises contractions, numbers, symbols and non-Latin text, as nanochat's sanity check.
const SANITY_TEXT =
  "Hello world! This is a test.\nNumbers: 123, 4567, 89\nContractions: I'm, you're, it's\n" +
  "Special chars: @#$%^&*()\nUnicode: 你好世界 🌍";

export function registerTokenizerCommands(program: Command): void {
  const tokenizer = program.command("tokenizer").description("train, evaluate and inspect the BPE tokenizer");

  tokenizer.command("train")
    .description("train a BPE vocabulary on the pretraining shards and save it to <base>/tokenizer")
    .option(
      "--vocab-size <n>",
      "vocabulary size including the 9 special tokens",
      parseIntOption("--vocab-size"),
      65536,
    )
    .option(
      "--max-chars <n>",
      "stop after this many characters of text",
      parseNumberOption("--max-chars"),
      2e9,
    )
    .option("--doc-cap <n>", "crop each document to this many characters", parseIntOption("--doc-cap"), 10000)
    .option("--data-dir <dir>", "read shards from this folder instead of <base>/base_data")
    .option("--threads <n>", "worker threads (0 = all cores)", parseIntOption("--threads"), 0)
    .option("--output <dir>", "save here instead of <base>/tokenizer")
    .action(async (opts, cmd: Command) => {
      const { baseDir } = globalOptions(cmd);
      const dataDir = await resolveDataDir(baseDir, opts.dataDir);
      const outDir = opts.output ?? layout.tokenizer(baseDir);
      if (opts.maxChars <= 0) throw new UserError("--max-chars must be positive");
      if (opts.docCap <= 0) throw new UserError("--doc-cap must be positive");
      bpe().bpe_set_num_threads(opts.threads);
      const t0 = performance.now();
      const ingest = new Progress("reading text", opts.maxChars, { unit: "items" });
      let chars = 0;
      async function* counted() {
        for await (
          const text of iterTrainingText({ dataDir, maxChars: opts.maxChars, docCap: opts.docCap })
        ) {
          chars += text.length;
          ingest.set(chars);
          yield text;
        }
      }
      let merges: Progress | undefined;
      const tok = await Tokenizer.train(counted(), {
        vocabSize: opts.vocabSize,
        onMergeProgress: (done, total) => {
          merges ??= new Progress("merging", total, { unit: "items" });
          merges.set(done);
        },
      });
      ingest.total = chars;
      ingest.finish(`${chars.toLocaleString("en-US")} characters`);
      merges?.finish();
      const trainTime = (performance.now() - t0) / 1000;
      const roundTrip = tok.decode(tok.encodeRaw(SANITY_TEXT));
      if (roundTrip !== SANITY_TEXT) {
        throw new Error("the trained tokenizer failed its round-trip sanity check");
      }
      tok.save(outDir);
      const stats = tokenByteStats(tok);
      console.log(
        `trained a ${tok.vocabSize}-token vocabulary in ${formatDuration(trainTime)}; saved to ${outDir}`,
      );
      console.log(
        `token bytes: min ${stats.min}, max ${stats.max}, mean ${stats.mean.toFixed(2)}, std ${
          stats.std.toFixed(2)
        }`,
      );
      await logReportSection(baseDir, "Tokenizer training", [
        { vocab_size: opts.vocabSize, max_chars: opts.maxChars, doc_cap: opts.docCap, characters: chars },
        { train_time: trainTime, num_special_tokens: SPECIAL_TOKENS.length },
        {
          token_bytes_min: stats.min,
          token_bytes_max: stats.max,
          token_bytes_mean: stats.mean,
          token_bytes_std: stats.std,
        },
      ]);
    });

  tokenizer.command("eval")
    .description("compare compression (bytes per token) with the GPT-2 and GPT-4 vocabularies")
    .option("--data-dir <dir>", "read shards from this folder instead of <base>/base_data")
    .option("--tokenizer-dir <dir>", "evaluate this tokenizer instead of <base>/tokenizer")
    .action(async (opts, cmd: Command) => {
      const { baseDir } = globalOptions(cmd);
      const tok = Tokenizer.load(opts.tokenizerDir ?? layout.tokenizer(baseDir));
      const samples: [string, string][] = EVAL_TEXTS.map(([n, t]) => [n, t]);
      const dataDir = await resolveDataDir(baseDir, opts.dataDir);
      samples.push(["fwe-train", await firstRowGroupText(dataDir, "train")]);
      samples.push(["fwe-val", await firstRowGroupText(dataDir, "val")]);
      const tables = compareCompression(tok, samples).map(formatComparison);
      console.log(tables.join("\n\n"));
      await logReportSection(baseDir, "Tokenizer evaluation", tables);
    });

  tokenizer.command("encode")
    .description("print the token ids of TEXT (or of standard input)")
    .argument("[text]", "the text to encode; read from standard input when omitted")
    .option("--tokenizer-dir <dir>", "use this tokenizer instead of <base>/tokenizer")
    .option("--visualize", "show each token, coloured, instead of ids")
    .option("--bos", "prepend <|bos|>")
    .action(async (text: string | undefined, opts, cmd: Command) => {
      const { baseDir } = globalOptions(cmd);
      const tok = Tokenizer.load(opts.tokenizerDir ?? layout.tokenizer(baseDir));
      const input = text ?? await new Response(Deno.stdin.readable).text();
      const ids = tok.encode(input, opts.bos ? { prepend: "<|bos|>" } : {});
      if (opts.visualize) console.log(visualizeTokenization(tok, ids, undefined, false));
      else console.log(ids.join(" "));
      console.error(`${ids.length} tokens, ${new TextEncoder().encode(input).length} bytes`);
    });

  tokenizer.command("decode")
    .description("print the text of token IDS (space or comma separated, or from standard input)")
    .argument("[ids...]", "token ids")
    .option("--tokenizer-dir <dir>", "use this tokenizer instead of <base>/tokenizer")
    .action(async (ids: string[], opts, cmd: Command) => {
      const { baseDir } = globalOptions(cmd);
      const tok = Tokenizer.load(opts.tokenizerDir ?? layout.tokenizer(baseDir));
      const raw = ids.length > 0 ? ids.join(" ") : await new Response(Deno.stdin.readable).text();
      const parsed = raw.split(/[\s,]+/).filter((s) => s.length > 0).map((s) => {
        const n = Number(s);
        if (!Number.isInteger(n)) throw new UserError(`"${s}" is not a token id (expected integers)`);
        return n;
      });
      console.log(tok.decode(parsed));
    });
}

function tokenByteStats(tok: Tokenizer): { min: number; max: number; mean: number; std: number } {
  // specials have 0 bytes and are left out, as nanochat's report does
  const bytes = Array.from(tok.tokenBytes()).filter((b) => b > 0);
  const mean = bytes.reduce((a, b) => a + b, 0) / bytes.length;
  const std = Math.sqrt(bytes.reduce((a, b) => a + (b - mean) ** 2, 0) / bytes.length);
  return {
    min: bytes.reduce((a, b) => Math.min(a, b)),
    max: bytes.reduce((a, b) => Math.max(a, b)),
    mean,
    std,
  };
}
