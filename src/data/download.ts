// Downloads pretraining shards over HTTP: parallel workers, retries with backoff, Range resume,
// stall timeouts and verification, so a shard under its final name is always complete.
import { join } from "node:path";
import { UserError } from "../common/errors.ts";
import { Progress } from "../common/progress.ts";
import { shardFileName } from "./parquet.ts";

/** A dataset nanochat can train on: where its shards live and how many there are. */
export interface DatasetInfo {
  /** Base URL; shard i is at `${baseUrl}/shard_{i:05d}.parquet`. */
  baseUrl: string;
  /** Index of the last shard. */
  maxShard: number;
  /** When set, this shard is the val shard and is always downloaded (it sorts last). */
  pinnedValShard?: number;
}

/** The datasets nanochat has used; fineweb-edu is the original one, climbmix the newer one. */
export const DATASETS = {
  "fineweb-edu": {
    baseUrl: "https://huggingface.co/datasets/karpathy/fineweb-edu-100b-shuffle/resolve/main",
    maxShard: 1822,
  },
  "climbmix": {
    baseUrl: "https://huggingface.co/datasets/karpathy/climbmix-400b-shuffle/resolve/main",
    maxShard: 6542,
    pinnedValShard: 6542,
  },
} as const satisfies Record<string, DatasetInfo>;

/** Name of a known dataset. */
export type DatasetName = keyof typeof DATASETS;

/** Environment variable that overrides the download base URL (tests, mirrors). */
export const DATA_URL_ENV = "NANOCHAT_DATA_URL";

/**
 * The shard indices to download for `numFiles` (-1 = all), as nanochat: fineweb-edu takes shards
 * 0..n-1 (the last of them is then the val shard); climbmix takes n train shards plus its pinned val shard.
 */
export function shardIndices(dataset: DatasetName, numFiles: number): number[] {
  if (!Number.isInteger(numFiles) || numFiles < -1) {
    throw new UserError(`--num-files must be a whole number >= 0, or -1 for all shards (got ${numFiles})`);
  }
  const info: DatasetInfo = DATASETS[dataset];
  if (info.pinnedValShard === undefined) {
    const n = numFiles === -1 ? info.maxShard + 1 : Math.min(numFiles, info.maxShard + 1);
    return Array.from({ length: n }, (_, i) => i);
  }
  const trainCount = info.pinnedValShard; // shards 0..pinned-1 are train
  const n = numFiles === -1 ? trainCount : Math.min(numFiles, trainCount);
  return [...Array.from({ length: n }, (_, i) => i), info.pinnedValShard];
}

/** Options of {@link downloadShards}. */
export interface DownloadOptions {
  /** Folder to download into (created if missing). */
  dataDir: string;
  /** Number of shards, -1 for all (see {@link shardIndices}). */
  numFiles: number;
  /** Which dataset; default "fineweb-edu". */
  dataset?: DatasetName;
  /** Parallel downloads; default 4. */
  workers?: number;
  /** Base URL; default $NANOCHAT_DATA_URL, else the dataset's own. */
  baseUrl?: string;
  /** Attempts per file; default 5. */
  maxAttempts?: number;
  /** Wait before retry number `attempt` (1-based) in ms; default 2^attempt seconds, as nanochat. */
  backoffMs?: (attempt: number) => number;
  /** Abort a request that receives no bytes for this long (ms); default 30 s. */
  stallTimeoutMs?: number;
  /** No progress bar and no log lines. */
  quiet?: boolean;
  /** Where log lines go; default stderr. */
  log?: (line: string) => void;
}

/** What happened to each requested shard. */
export interface DownloadSummary {
  /** Shards fetched in this run (file names). */
  downloaded: string[];
  /** Shards that were already complete on disk. */
  skipped: string[];
  /** Shards that could not be fetched; none of them is left on disk, neither final nor .tmp. */
  failed: { name: string; error: string }[];
}

/** Resolves the base URL: explicit option, then $NANOCHAT_DATA_URL, then the dataset's. */
export function resolveBaseUrl(dataset: DatasetName, override?: string): string {
  const url = override || Deno.env.get(DATA_URL_ENV) || DATASETS[dataset].baseUrl;
  return url.replace(/\/+$/, "");
}

/**
 * Downloads shards into `dataDir` with `workers` parallel downloads and one byte-level progress bar.
 * Files already complete are skipped; others are streamed to `<name>.tmp` and renamed once verified.
 * Never throws for a failed file: failures are listed in the summary.
 */
export async function downloadShards(options: DownloadOptions): Promise<DownloadSummary> {
  const dataset = options.dataset ?? "fineweb-edu";
  if (!(dataset in DATASETS)) {
    throw new UserError(`unknown dataset "${dataset}"; choose one of: ${Object.keys(DATASETS).join(", ")}`);
  }
  const workers = options.workers ?? 4;
  if (!Number.isInteger(workers) || workers < 1) {
    throw new UserError(`--workers must be a whole number >= 1 (got ${workers})`);
  }
  const indices = shardIndices(dataset, options.numFiles);
  const baseUrl = resolveBaseUrl(dataset, options.baseUrl);
  const log = options.quiet ? () => {} : (options.log ?? logAboveProgress);
  try {
    await Deno.mkdir(options.dataDir, { recursive: true });
  } catch (err) {
    throw new UserError(
      `cannot create the data folder ${options.dataDir}: ${errorText(err)}; pass --data-dir`,
    );
  }

  const progress = new Progress("download", 0, { unit: "bytes", quiet: options.quiet });
  const summary: DownloadSummary = { downloaded: [], skipped: [], failed: [] };
  const settings = fileSettings({ ...options, log }, progress);

  let next = 0;
  const worker = async () => {
    while (next < indices.length) {
      const name = shardFileName(indices[next++]);
      const path = join(options.dataDir, name);
      try {
        if (await isCompleteParquet(path)) {
          summary.skipped.push(name);
          continue;
        }
        await downloadFile(`${baseUrl}/${name}`, path, settings);
        summary.downloaded.push(name);
      } catch (err) {
        summary.failed.push({ name, error: errorText(err) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, indices.length) }, worker));
  if (summary.downloaded.length > 0) progress.finish();
  for (const list of [summary.downloaded, summary.skipped]) list.sort();
  summary.failed.sort((a, b) => a.name.localeCompare(b.name));
  return summary;
}

/**
 * True when `path` looks like a complete parquet file: non-empty, starting and ending with "PAR1".
 * A download is only renamed to its final name once complete, so this guards against files
 * left by other tools or damaged later.
 */
export async function isCompleteParquet(path: string): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
  try {
    const size = (await file.stat()).size;
    if (size < 12) return false;
    const head = await readAt(file, 0, 4);
    const tail = await readAt(file, size - 4, 4);
    return isMagic(head) && isMagic(tail);
  } finally {
    file.close();
  }
}

// ---------------------------------------------------------------------------------------------
// One file

interface FileSettings {
  maxAttempts: number;
  backoffMs: (attempt: number) => number;
  stallTimeoutMs: number;
  log: (line: string) => void;
  progress: Progress;
  verify: FileCheck;
}

/** How a finished download is recognized as complete: a test on the file and what to say when it fails. */
export interface FileCheck {
  isComplete: (path: string) => Promise<boolean>;
  /** e.g. "a complete parquet file (no PAR1 magic at both ends)". */
  expected: string;
}

const PARQUET_CHECK: FileCheck = {
  isComplete: isCompleteParquet,
  expected: "a complete parquet file (no PAR1 magic at both ends)",
};

/** Options of {@link downloadOneFile}. */
export interface OneFileOptions {
  /** Default: a complete parquet file. */
  verify?: FileCheck;
  /** Progress bar label; default the file name. */
  label?: string;
  maxAttempts?: number;
  backoffMs?: (attempt: number) => number;
  stallTimeoutMs?: number;
  quiet?: boolean;
  log?: (line: string) => void;
}

/**
 * Downloads one file to `path` with the shard downloader's guarantees: streamed to `<path>.tmp`,
 * resumed with Range requests across attempts and runs, retried with backoff, verified, then renamed.
 * Throws (leaving no file under `path`) when every attempt failed.
 */
export async function downloadOneFile(url: string, path: string, o: OneFileOptions = {}): Promise<void> {
  const label = o.label ?? path.split(/[\\/]/).pop()!;
  const progress = new Progress(label, 0, { unit: "bytes", quiet: o.quiet });
  await downloadFile(
    url,
    path,
    fileSettings({ ...o, log: o.quiet ? () => {} : (o.log ?? logAboveProgress) }, progress),
  );
  progress.finish();
}

/** The per-file settings with nanochat's defaults: 5 attempts, 2^attempt s backoff, a 30 s stall limit. */
function fileSettings(
  o: Omit<OneFileOptions, "log" | "label"> & { log: (line: string) => void },
  progress: Progress,
): FileSettings {
  return {
    maxAttempts: o.maxAttempts ?? 5,
    backoffMs: o.backoffMs ?? ((attempt) => 1000 * 2 ** attempt),
    stallTimeoutMs: o.stallTimeoutMs ?? 30_000,
    log: o.log,
    progress,
    verify: o.verify ?? PARQUET_CHECK,
  };
}

/** An HTTP status that retrying will not fix (404, 403, ...). */
class PermanentError extends Error {}

/** Per-file progress accounting, so retries never count bytes twice. */
interface FileProgress {
  /** Bytes of this file counted in the bar so far. */
  counted: number;
  /** This file's size as added to the bar's total (undefined until known). */
  total?: number;
}

async function downloadFile(url: string, path: string, s: FileSettings): Promise<void> {
  const tmp = `${path}.tmp`;
  const name = path.split(/[\\/]/).pop()!;
  const fp: FileProgress = { counted: 0 };
  let lastError: unknown;
  for (let attempt = 1; attempt <= s.maxAttempts; attempt++) {
    try {
      await fetchToTmp(url, tmp, s, fp);
      await Deno.rename(tmp, path);
      return;
    } catch (err) {
      lastError = err;
      const why = errorText(err);
      if (err instanceof PermanentError) {
        s.log(`${name}: ${why}; not retrying`);
        break;
      }
      if (attempt < s.maxAttempts) {
        const wait = s.backoffMs(attempt);
        s.log(
          `${name}: attempt ${attempt}/${s.maxAttempts} failed (${why}); retrying in ${formatWait(wait)}`,
        );
        await new Promise((resolve) => setTimeout(resolve, wait));
      } else {
        s.log(`${name}: attempt ${attempt}/${s.maxAttempts} failed (${why}); giving up`);
      }
    }
  }
  // never leave a half file behind; take its bytes back out of the progress bar
  await Deno.remove(tmp).catch(() => {});
  uncount(s, fp);
  if (fp.total !== undefined) s.progress.total -= fp.total;
  throw new Error(errorText(lastError));
}

/**
 * One attempt: resumes `tmp` with a Range request if it holds bytes, streams the body into it, and
 * checks the result (size = Content-Length, PAR1 at both ends). Leaves a short but sound `tmp` in
 * place for the next attempt to resume; deletes a `tmp` whose content is wrong.
 */
async function fetchToTmp(url: string, tmp: string, s: FileSettings, fp: FileProgress): Promise<void> {
  let offset = await fileSize(tmp);
  const controller = new AbortController();
  let stalled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      controller.abort();
    }, s.stallTimeoutMs);
  };
  const stallError = () => new Error(`no data for ${formatWait(s.stallTimeoutMs)} (stalled)`);

  let response: Response | undefined;
  let file: Deno.FsFile | undefined;
  try {
    arm();
    const headers: HeadersInit = offset > 0 ? { Range: `bytes=${offset}-` } : {};
    try {
      response = await fetch(url, { headers, signal: controller.signal });
    } catch (err) {
      throw stalled ? stallError() : err;
    }
    if (response.status === 416 && offset > 0) {
      // the .tmp is not a prefix of the remote file (it may be as long or longer): start over
      await response.body?.cancel();
      await Deno.remove(tmp).catch(() => {});
      uncount(s, fp);
      throw new Error("server refused to resume the partial download (HTTP 416); restarting");
    }
    if (response.status !== 200 && response.status !== 206) {
      await response.body?.cancel();
      const message = `HTTP ${response.status} ${response.statusText} for ${url}`.replace(/\s+for/, " for");
      const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
      throw retryable ? new Error(message) : new PermanentError(message);
    }

    let expected: number | undefined;
    if (response.status === 206) {
      const range = parseContentRange(response.headers.get("content-range"));
      if (!range || range.start !== offset) {
        // a range we did not ask for: safest to start over
        await response.body?.cancel();
        await Deno.remove(tmp).catch(() => {});
        uncount(s, fp);
        throw new Error(`unexpected Content-Range "${response.headers.get("content-range")}"; restarting`);
      }
      expected = range.total;
    } else {
      // 200: the server ignored the Range header (or we sent none); the body is the whole file
      if (offset > 0) s.log(`${tmp}: server does not support resuming; restarting from the beginning`);
      offset = 0;
      uncount(s, fp);
      const length = response.headers.get("content-length");
      if (length !== null && /^\d+$/.test(length)) expected = Number(length);
    }
    if (expected !== undefined && fp.total === undefined) {
      s.progress.total += expected;
      fp.total = expected;
    }
    // bytes already on disk from an earlier attempt count as done
    if (offset > fp.counted) {
      s.progress.advance(offset - fp.counted);
      fp.counted = offset;
    }

    file = await Deno.open(
      tmp,
      offset > 0 ? { append: true } : { write: true, create: true, truncate: true },
    );
    let written = offset;
    if (response.body) {
      const reader = response.body.getReader();
      try {
        while (true) {
          arm();
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await reader.read();
          } catch (err) {
            throw stalled ? stallError() : err;
          }
          if (chunk.done) break;
          await writeAll(file, chunk.value);
          written += chunk.value.length;
          fp.counted += chunk.value.length;
          s.progress.advance(chunk.value.length);
        }
      } finally {
        await reader.cancel().catch(() => {});
      }
    }
    file.close();
    file = undefined;

    if (expected !== undefined && written < expected) {
      // keep the sound prefix: the next attempt resumes from it
      throw new Error(`connection closed early: got ${written} of ${expected} bytes`);
    }
    if (expected !== undefined && written > expected) {
      await Deno.remove(tmp).catch(() => {});
      uncount(s, fp);
      throw new Error(`got ${written} bytes but the server announced ${expected}`);
    }
    if (!(await s.verify.isComplete(tmp))) {
      await Deno.remove(tmp).catch(() => {});
      uncount(s, fp);
      throw new Error(`downloaded file is not ${s.verify.expected}`);
    }
  } finally {
    clearTimeout(timer);
    file?.close();
  }
}

/** Takes a file's counted bytes back out of the bar when its partial data is thrown away. */
function uncount(s: FileSettings, fp: FileProgress): void {
  s.progress.set(s.progress.done - fp.counted);
  fp.counted = 0;
}

function parseContentRange(header: string | null): { start: number; total?: number } | undefined {
  const m = header?.match(/^bytes (\d+)-(\d+)\/(\d+|\*)$/);
  if (!m) return undefined;
  return { start: Number(m[1]), total: m[3] === "*" ? undefined : Number(m[3]) };
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return 0;
    throw err;
  }
}

async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await file.write(data.subarray(off));
}

async function readAt(file: Deno.FsFile, position: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  await file.seek(position, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < length) {
    const n = await file.read(out.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return out.subarray(0, filled);
}

function isMagic(bytes: Uint8Array): boolean {
  return bytes.length === 4 && bytes[0] === 0x50 && bytes[1] === 0x41 && bytes[2] === 0x52 &&
    bytes[3] === 0x31;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Prints a log line on stderr, first clearing a progress bar drawn in place on a terminal. */
function logAboveProgress(line: string): void {
  if (Deno.stderr.isTerminal()) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[2K"));
  console.error(line);
}

function formatWait(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toFixed(1)}s` : `${ms}ms`;
}
