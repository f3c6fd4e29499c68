// `nanochat data ...`: download the pretraining shards and show what is on disk.
import { basename } from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import { layout } from "../common/base_dir.ts";
import { UserError } from "../common/errors.ts";
import { formatBytes } from "../common/fs.ts";
import { Progress } from "../common/progress.ts";
import {
  DATA_URL_ENV,
  type DatasetName,
  DATASETS,
  downloadShards,
  listShards,
  resolveBaseUrl,
  shardIndices,
  type ShardStats,
  shardStats,
  type Split,
  splitOf,
  withShard,
} from "../data/mod.ts";
import { globalOptions } from "./context.ts";

/** Adds `data download` and `data info` to the program. */
export function registerDataCommands(program: Command): void {
  const data = program
    .command("data")
    .description("download and inspect the pretraining data (parquet shards with a `text` column)");

  data
    .command("download")
    .description(
      "download pretraining shards (the last shard on disk is the validation split); " +
        "files already complete are skipped, so re-running resumes",
    )
    .option(
      "-n, --num-files <n>",
      "number of shards to download (~100 MB each; the default 8 is enough for the tokenizer), -1 for all " +
        "(fineweb-edu has 1823 shards, ~170 GB); climbmix always adds its pinned validation shard",
      intArg("--num-files", -1),
      8,
    )
    .addOption(
      new Option("--dataset <name>", "which dataset to download")
        .choices(Object.keys(DATASETS))
        .default("fineweb-edu"),
    )
    .option("-w, --workers <n>", "number of parallel downloads", intArg("--workers", 1), 4)
    .option("--url <base>", `base URL of the shards (default: $${DATA_URL_ENV}, else the dataset's own URL)`)
    .option("--data-dir <dir>", "folder to download into (default: <base-dir>/base_data)")
    .action(async (opts: DownloadFlags, cmd: Command) => {
      await runDownload(opts, cmd);
    });

  data
    .command("info")
    .description(
      "list the shards on disk: split, rows, row groups, characters and size, with totals per split",
    )
    .option("--data-dir <dir>", "folder holding the shards (default: <base-dir>/base_data)")
    .action(async (opts: { dataDir?: string }, cmd: Command) => {
      await runInfo(opts, cmd);
    });
}

interface DownloadFlags {
  numFiles: number;
  dataset: DatasetName;
  workers: number;
  url?: string;
  dataDir?: string;
}

function dataDirOf(opts: { dataDir?: string }, cmd: Command): string {
  return opts.dataDir ?? layout.data(globalOptions(cmd).baseDir);
}

async function runDownload(opts: DownloadFlags, cmd: Command): Promise<void> {
  const dataDir = dataDirOf(opts, cmd);
  const count = shardIndices(opts.dataset, opts.numFiles).length;
  const url = resolveBaseUrl(opts.dataset, opts.url);
  console.log(
    `Downloading ${count} shard${count === 1 ? "" : "s"} of ${opts.dataset} with ${opts.workers} ` +
      `worker${opts.workers === 1 ? "" : "s"}\n  from ${url}\n  into ${dataDir}`,
  );
  const summary = await downloadShards({
    dataDir,
    numFiles: opts.numFiles,
    dataset: opts.dataset,
    workers: opts.workers,
    baseUrl: opts.url,
  });
  console.log(
    `Done: ${summary.downloaded.length} downloaded, ${summary.skipped.length} already present, ` +
      `${summary.failed.length} failed`,
  );
  if (summary.failed.length > 0) {
    const list = summary.failed.map((f) => `  ${f.name}: ${f.error}`).join("\n");
    throw new UserError(
      `${summary.failed.length} shard${summary.failed.length === 1 ? "" : "s"} could not be downloaded:\n` +
        `${list}\nCheck the network (or --url / $${DATA_URL_ENV}) and run the same command again: ` +
        `complete shards are skipped.`,
    );
  }
}

async function runInfo(opts: { dataDir?: string }, cmd: Command): Promise<void> {
  const dataDir = dataDirOf(opts, cmd);
  const paths = await listShards(dataDir);
  // footers first, for the progress bar's total
  let totalGroups = 0;
  for (const path of paths) totalGroups += await withShard(path, (s) => Promise.resolve(s.numRowGroups));

  const progress = new Progress("reading", totalGroups, { unit: "items" });
  const stats: ShardStats[] = [];
  for (const path of paths) stats.push(await shardStats(path, () => progress.advance()));
  progress.finish();

  const n = (x: number) => x.toLocaleString("en-US");
  const rows: string[][] = [["shard", "split", "rows", "row groups", "characters", "size"]];
  stats.forEach((s, i) => {
    rows.push([
      basename(s.path),
      splitOf(i, stats.length),
      n(s.rows),
      n(s.rowGroups),
      n(s.chars),
      formatBytes(s.bytes),
    ]);
  });
  rows.push([]);
  for (const split of ["train", "val"] as Split[]) {
    const part = stats.filter((_, i) => splitOf(i, stats.length) === split);
    const sum = (f: (s: ShardStats) => number) => part.reduce((a, s) => a + f(s), 0);
    rows.push([
      `${split} total (${part.length} shard${part.length === 1 ? "" : "s"})`,
      split,
      n(sum((s) => s.rows)),
      n(sum((s) => s.rowGroups)),
      n(sum((s) => s.chars)),
      formatBytes(sum((s) => s.bytes)),
    ]);
  }
  console.log(`Shards in ${dataDir}:`);
  console.log(formatTable(rows));
  if (stats.length === 1) {
    console.log("Note: a single shard is used as the validation split; training needs at least 2 shards.");
  }
}

/** Left-aligns the first two columns and right-aligns the numbers; an empty row is a blank line. */
function formatTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ")
    )
    .map((line) => line.trimEnd())
    .join("\n");
}

/** An integer option parser whose errors commander reports as usage errors (exit code 1, no stack). */
function intArg(flag: string, min: number) {
  return (value: string): number => {
    const x = Number(value);
    if (!Number.isInteger(x) || x < min) {
      throw new InvalidArgumentError(`${flag} expects a whole number >= ${min}, got "${value}"`);
    }
    return x;
  };
}
