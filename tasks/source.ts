// Where a task's rows come from. Online (nanochat's way): the Hugging Face parquet export of the dataset,
// downloaded once into <base>/task_data/ (see hub.ts), and plain files (word list, identity conversations)
// downloaded into the base dir. Offline: a folder laid out like ../shared/data/chat, given with
// --task-data-dir or $NANOCHAT_TASK_DATA_DIR. Each task module says where its offline file differs from the
// dataset nanochat uses.
import { join } from "node:path";
import { UserError } from "../src/common/errors.ts";
import { exists } from "../src/common/fs.ts";
import { downloadOneFile } from "../src/data/download.ts";

/** Environment variable naming the offline task-data folder (same as --task-data-dir). */
export const TASK_DATA_ENV = "NANOCHAT_TASK_DATA_DIR";

/** How to find task data. */
export interface TaskDataOptions {
  /** Offline folder (../shared/data/chat layout); default $NANOCHAT_TASK_DATA_DIR; unset = download. */
  dataDir?: string;
  /** Base dir; downloads are cached under it. Required when downloading. */
  baseDir?: string;
  /** No progress bars. */
  quiet?: boolean;
}

/** The offline folder in effect (option, then env), or undefined to download. */
export function offlineDir(opts: TaskDataOptions): string | undefined {
  return opts.dataDir ?? (Deno.env.get(TASK_DATA_ENV) || undefined);
}

/** Reads `name` from the offline folder; a missing file is a clear error naming the folder. */
export async function readOfflineText(dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new UserError(
        `task data file ${path} is missing: point --task-data-dir (or $${TASK_DATA_ENV}) at a folder ` +
          `laid out like shared/data/chat, or leave it unset to download the datasets`,
      );
    }
    throw err;
  }
}

/** Parses JSON lines (blank lines skipped); a bad line is an error naming the file and line. */
export function parseJsonl(text: string, where: string): unknown[] {
  const rows: unknown[] = [];
  text.split("\n").forEach((line, i) => {
    const t = line.trim();
    if (!t) return;
    try {
      rows.push(JSON.parse(t));
    } catch (err) {
      throw new UserError(`${where} line ${i + 1} is not valid JSON (${(err as Error).message})`);
    }
  });
  return rows;
}

/** Offline JSON lines file `name` as rows. */
export async function readOfflineJsonl(dir: string, name: string): Promise<unknown[]> {
  return parseJsonl(await readOfflineText(dir, name), join(dir, name));
}

/**
 * A plain file nanochat downloads into the base dir (nanochat's download_file_with_lock): returned
 * from <base>/<fileName> when present, else fetched from `url` (resumable, atomic) first.
 */
export async function cachedDownload(
  url: string,
  fileName: string,
  opts: TaskDataOptions,
): Promise<string> {
  if (!opts.baseDir) throw new Error(`downloading ${fileName} needs a base dir`);
  const path = join(opts.baseDir, fileName);
  if (await exists(path)) return path;
  await Deno.mkdir(opts.baseDir, { recursive: true });
  try {
    await downloadOneFile(url, path, {
      verify: { isComplete: async (p) => (await Deno.stat(p)).size > 0, expected: "a non-empty file" },
      quiet: opts.quiet,
      label: fileName,
    });
  } catch (err) {
    throw new UserError(
      `could not download ${url} (${(err as Error).message}): check the network, or pass ` +
        `--task-data-dir (or $${TASK_DATA_ENV}) with a local copy`,
    );
  }
  return path;
}
