// Which shard folder a command reads (--data-dir or <base>/base_data) and small samples taken from it.
import { layout } from "../common/base_dir.ts";
import { UserError } from "../common/errors.ts";
import { iterRowGroups, type Split } from "./parquet.ts";

/** The folder to read shards from: `override` when given (it must exist), else <base>/base_data. */
export async function resolveDataDir(baseDir: string, override?: string): Promise<string> {
  const dir = override ?? layout.data(baseDir);
  try {
    if ((await Deno.stat(dir)).isDirectory) return dir;
  } catch { /* reported below */ }
  throw new UserError(
    override
      ? `--data-dir ${override} is not a directory`
      : `no pretraining data at ${dir}: run \`nanochat data download\` or pass --data-dir DIR`,
  );
}

/** The first row group of a split joined with newlines (nanochat's fwe-train / fwe-val eval samples). */
export async function firstRowGroupText(dataDir: string, split: Split): Promise<string> {
  for await (const batch of iterRowGroups(split, { dataDir })) return batch.texts.join("\n");
  throw new UserError(`the ${split} split in ${dataDir} has no row groups`);
}
