// Hugging Face datasets through their automatic parquet export, as nanochat's load_hub_dataset reads them:
// the shard list comes from `<hub>/api/datasets/<repo>/parquet/<subset>/<split>` (a JSON list of URLs),
// each shard is downloaded once into <base>/task_data/<repo--id>/<subset>/<split>/NNNNN.parquet
// (resumable .tmp files, verified, renamed) and manifest.json is written last, so its presence means the
// download is complete. Rows are read with hyparquet (nested lists and structs come back as JS values).
import { join } from "node:path";
import { parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { UserError } from "../src/common/errors.ts";
import { withFileLock, writeFileAtomic } from "../src/common/fs.ts";
import { downloadOneFile, isCompleteParquet } from "../src/data/download.ts";
import { TASK_DATA_ENV, type TaskDataOptions } from "./source.ts";

/** Environment variable overriding the hub's address (mirrors, tests). */
export const HUB_URL_ENV = "NANOCHAT_HF_URL";

const DEFAULT_HUB = "https://huggingface.co";

/** One dataset split on the hub. */
export interface HubSplit {
  repo: string;
  subset: string;
  split: string;
}

/** Where a split's shards are cached. */
export function hubCacheDir(baseDir: string, s: HubSplit): string {
  return join(baseDir, "task_data", s.repo.replaceAll("/", "--"), s.subset, s.split);
}

/** Downloads (once) and reads every row of a hub split, in the export's order. */
export async function loadHubRows(s: HubSplit, opts: TaskDataOptions): Promise<Record<string, unknown>[]> {
  if (!opts.baseDir) throw new Error("loading a hub dataset needs a base dir");
  const dir = hubCacheDir(opts.baseDir, s);
  const manifestPath = join(dir, "manifest.json");
  const manifest = async (): Promise<string[] | null> => {
    try {
      return JSON.parse(await Deno.readTextFile(manifestPath));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null;
      throw err;
    }
  };
  let files = await manifest();
  if (files === null) {
    // processes loading the same split at once (the ranks of a data-parallel run) download it once
    await Deno.mkdir(dir, { recursive: true });
    files = await withFileLock(join(dir, ".download.lock"), async () => {
      const done = await manifest();
      if (done !== null) return done;
      const got = await downloadSplit(s, dir, opts);
      await writeFileAtomic(manifestPath, JSON.stringify(got));
      return got;
    });
  }
  const rows: Record<string, unknown>[] = [];
  for (const f of files) {
    const bytes = await Deno.readFile(join(dir, f));
    const part = await parquetReadObjects({ file: bytes.buffer as ArrayBuffer, compressors });
    for (const r of part) rows.push(r as Record<string, unknown>);
  }
  return rows;
}

async function downloadSplit(s: HubSplit, dir: string, opts: TaskDataOptions): Promise<string[]> {
  const hub = (Deno.env.get(HUB_URL_ENV) || DEFAULT_HUB).replace(/\/+$/, "");
  const listing = `${hub}/api/datasets/${s.repo}/parquet/${s.subset}/${s.split}`;
  const fail = (why: string) =>
    new UserError(
      `could not download ${s.repo} (${s.subset}/${s.split}) from ${listing}: ${why}. Check the network, ` +
        `or use the offline files with --task-data-dir (or $${TASK_DATA_ENV})`,
    );
  let urls: unknown;
  try {
    const res = await fetch(listing);
    if (!res.ok) {
      await res.body?.cancel();
      throw fail(`HTTP ${res.status}`);
    }
    urls = await res.json();
  } catch (err) {
    throw err instanceof UserError ? err : fail((err as Error).message);
  }
  if (!Array.isArray(urls) || urls.length === 0 || !urls.every((u) => typeof u === "string")) {
    throw fail("the listing is not a non-empty JSON list of URLs");
  }
  await Deno.mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (const [i, url] of (urls as string[]).entries()) {
    const name = `${String(i).padStart(5, "0")}.parquet`;
    files.push(name);
    if (await isCompleteParquet(join(dir, name))) continue; // finished by an earlier, interrupted run
    try {
      await downloadOneFile(url, join(dir, name), {
        quiet: opts.quiet,
        label: `${s.repo} ${s.split} ${i + 1}/${urls.length}`,
      });
    } catch (err) {
      throw fail((err as Error).message);
    }
  }
  return files;
}
