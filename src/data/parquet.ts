// Reads nanochat pretraining shards (parquet files with one `text` column) lazily, one row group at a time.
import { basename, join } from "node:path";
import {
  type AsyncBuffer,
  type FileMetaData,
  parquetMetadataAsync,
  parquetRead,
  parquetSchema,
} from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { UserError } from "../common/errors.ts";

/** Which part of the data: every shard but the last is "train", the last one is "val" (as nanochat). */
export type Split = "train" | "val";

/** Matches shard file names: `shard_00042.parquet`. */
export const SHARD_NAME_RE = /^shard_(\d{5,})\.parquet$/;

/** The file name of shard `index`: `shard_00042.parquet`. */
export function shardFileName(index: number): string {
  return `shard_${String(index).padStart(5, "0")}.parquet`;
}

const HOW_TO_GET_DATA =
  "run `nanochat data download` to fetch shards, or pass --data-dir to point at a folder of them";

/**
 * Lists the shard files in `dataDir` (full paths, sorted by name, so the last one is the val shard).
 * Throws a UserError naming the folder when it is missing or holds no shards.
 */
export async function listShards(dataDir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dataDir)) {
      // `.tmp` files are downloads in progress and never match the pattern
      if (entry.isFile && SHARD_NAME_RE.test(entry.name)) names.push(entry.name);
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new UserError(`data folder ${dataDir} does not exist: ${HOW_TO_GET_DATA}`);
    }
    if (err instanceof Deno.errors.NotADirectory) {
      throw new UserError(`data folder ${dataDir} is not a directory: ${HOW_TO_GET_DATA}`);
    }
    throw err;
  }
  if (names.length === 0) {
    throw new UserError(`no shards (shard_NNNNN.parquet) found in ${dataDir}: ${HOW_TO_GET_DATA}`);
  }
  names.sort();
  return names.map((name) => join(dataDir, name));
}

/** The split a shard at `position` of `count` sorted shards belongs to. */
export function splitOf(position: number, count: number): Split {
  return position === count - 1 ? "val" : "train";
}

/**
 * The shard paths of one split. Train needs at least two shards (the last is always val), so a
 * folder with a single shard is an error for "train", with a message saying why.
 */
export async function listSplit(dataDir: string, split: Split): Promise<string[]> {
  const all = await listShards(dataDir);
  if (split === "val") return all.slice(-1);
  if (all.length < 2) {
    throw new UserError(
      `only one shard in ${dataDir} (${basename(all[0])}), and the last shard is the validation split, ` +
        `so there is no training data: download at least 2 shards (nanochat data download -n 2)`,
    );
  }
  return all.slice(0, -1);
}

// ---------------------------------------------------------------------------------------------
// Opening a shard

const MAGIC = 0x31524150; // "PAR1" read as a little-endian uint32

/** An AsyncBuffer over an open file; reads are serialized because seek+read on one handle is not atomic. */
class FileBuffer implements AsyncBuffer {
  #queue: Promise<unknown> = Promise.resolve();

  constructor(readonly file: Deno.FsFile, readonly byteLength: number) {}

  slice(start: number, end = this.byteLength): Promise<ArrayBuffer> {
    const run = this.#queue.then(() => this.#read(start, Math.min(end, this.byteLength)));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #read(start: number, end: number): Promise<ArrayBuffer> {
    const out = new Uint8Array(Math.max(0, end - start));
    await this.file.seek(start, Deno.SeekMode.Start);
    let filled = 0;
    while (filled < out.length) {
      const n = await this.file.read(out.subarray(filled));
      if (n === null) throw new Error(`unexpected end of file at byte ${start + filled}`);
      filled += n;
    }
    return out.buffer;
  }
}

/**
 * One open shard: validated metadata, row counts, and reading of a row group's texts.
 * Only the footer is read when opening; row groups are read on demand. Call `close()` when done.
 */
export class ParquetShard {
  readonly #buffer: FileBuffer;
  readonly #groupStarts: number[];

  private constructor(
    /** Path of the file, used in every error message. */
    readonly path: string,
    /** Parsed parquet footer. */
    readonly metadata: FileMetaData,
    buffer: FileBuffer,
  ) {
    this.#buffer = buffer;
    this.#groupStarts = [];
    let start = 0;
    for (const rg of metadata.row_groups) {
      this.#groupStarts.push(start);
      start += Number(rg.num_rows);
    }
  }

  /**
   * Opens and validates a shard: it must start and end with the PAR1 magic, have a readable
   * footer and a top-level string column `text`. Any failure is a UserError naming the file.
   */
  static async open(path: string): Promise<ParquetShard> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) throw new UserError(`shard ${path} does not exist`);
      throw err;
    }
    try {
      const size = (await file.stat()).size;
      const buffer = new FileBuffer(file, size);
      const metadata = await readValidatedMetadata(path, buffer);
      return new ParquetShard(path, metadata, buffer);
    } catch (err) {
      file.close();
      throw err;
    }
  }

  /** Size of the file in bytes. */
  get byteLength(): number {
    return this.#buffer.byteLength;
  }

  /** Number of documents (rows) in the shard. */
  get numRows(): number {
    return Number(this.metadata.num_rows);
  }

  /** Number of row groups in the shard. */
  get numRowGroups(): number {
    return this.metadata.row_groups.length;
  }

  /** Number of documents in row group `index`. */
  rowGroupRows(index: number): number {
    this.#checkIndex(index);
    return Number(this.metadata.row_groups[index].num_rows);
  }

  /** Reads the documents of row group `index` (null texts read as ""). */
  async readRowGroup(index: number): Promise<string[]> {
    this.#checkIndex(index);
    const rowStart = this.#groupStarts[index];
    const rowEnd = rowStart + this.rowGroupRows(index);
    const texts: string[] = new Array(rowEnd - rowStart);
    let seen = 0;
    try {
      await parquetRead({
        file: this.#buffer,
        metadata: this.metadata,
        columns: ["text"],
        rowStart,
        rowEnd,
        compressors,
        onChunk: ({ columnData, rowStart: chunkStart }) => {
          // chunks may reach outside the requested rows, so place each value by its row number
          for (let i = 0; i < columnData.length; i++) {
            const row = chunkStart + i;
            if (row < rowStart || row >= rowEnd) continue;
            const value = columnData[i];
            texts[row - rowStart] = value == null ? "" : toText(value);
            seen++;
          }
        },
      });
    } catch (err) {
      throw new UserError(
        `cannot read row group ${index} of ${this.path} (the file is corrupt: ${errorText(err)}); ` +
          `delete it and download it again`,
      );
    }
    if (seen !== texts.length) {
      throw new UserError(
        `row group ${index} of ${this.path} holds ${seen} texts but its metadata says ${texts.length}; ` +
          `the file is corrupt: delete it and download it again`,
      );
    }
    return texts;
  }

  /** Closes the file handle. */
  close(): void {
    try {
      this.#buffer.file.close();
    } catch (err) {
      if (!(err instanceof Deno.errors.BadResource)) throw err;
    }
  }

  #checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.numRowGroups) {
      throw new RangeError(`row group ${index} out of range: ${this.path} has ${this.numRowGroups}`);
    }
  }
}

/** Opens `path`, runs `fn` on the shard, and closes it whatever happens. */
export async function withShard<T>(path: string, fn: (shard: ParquetShard) => Promise<T>): Promise<T> {
  const shard = await ParquetShard.open(path);
  try {
    return await fn(shard);
  } finally {
    shard.close();
  }
}

const REDOWNLOAD = "delete it and run `nanochat data download` again";

async function readValidatedMetadata(path: string, buffer: FileBuffer): Promise<FileMetaData> {
  // the smallest parquet file is "PAR1" + footer length (4) + "PAR1"
  if (buffer.byteLength < 12) {
    throw new UserError(`${path} is not a parquet file (only ${buffer.byteLength} bytes); ${REDOWNLOAD}`);
  }
  const head = new DataView(await buffer.slice(0, 4));
  if (head.getUint32(0, true) !== MAGIC) {
    throw new UserError(
      `${path} is not a parquet file (it does not start with the PAR1 magic); ${REDOWNLOAD}`,
    );
  }
  const tail = new DataView(await buffer.slice(buffer.byteLength - 4));
  if (tail.getUint32(0, true) !== MAGIC) {
    throw new UserError(
      `${path} is truncated or corrupt (it does not end with the PAR1 magic, so the footer is missing); ` +
        REDOWNLOAD,
    );
  }
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(buffer);
  } catch (err) {
    throw new UserError(`${path} has a corrupt parquet footer (${errorText(err)}); ${REDOWNLOAD}`);
  }
  let columns: string[];
  let textElement;
  try {
    const children = parquetSchema(metadata).children;
    columns = children.map((c) => c.element.name);
    textElement = children.find((c) => c.element.name === "text");
  } catch (err) {
    throw new UserError(`${path} has a corrupt parquet schema (${errorText(err)}); ${REDOWNLOAD}`);
  }
  if (!textElement) {
    throw new UserError(
      `${path} has no \`text\` column (its columns: ${columns.join(", ") || "none"}); ` +
        `pretraining shards need one string column named \`text\` with one document per row`,
    );
  }
  if (textElement.element.type !== "BYTE_ARRAY" || textElement.children.length > 0) {
    throw new UserError(
      `${path}: column \`text\` is ${
        textElement.element.type ?? "a group"
      }, not a string (BYTE_ARRAY) column`,
    );
  }
  for (const [i, rg] of metadata.row_groups.entries()) {
    for (const chunk of rg.columns) {
      const meta = chunk.meta_data;
      if (!meta) continue;
      const start = Number(meta.dictionary_page_offset ?? meta.data_page_offset);
      const end = start + Number(meta.total_compressed_size);
      if (start < 0 || end > buffer.byteLength) {
        throw new UserError(`${path}: row group ${i} lies outside the file (corrupt footer); ${REDOWNLOAD}`);
      }
    }
  }
  return metadata;
}

const utf8 = new TextDecoder();

function toText(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) return utf8.decode(value);
  return String(value);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------------
// Counting characters as Python does (code points, not UTF-16 units), so limits match nanochat.

const SURROGATE_RE = /[\uD800-\uDFFF]/;

/** Number of Unicode code points in `s` (Python's len()). */
export function codePointLength(s: string): number {
  if (!SURROGATE_RE.test(s)) return s.length;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // a high surrogate followed by a low one is one code point
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/** The first `max` code points of `s` (Python's s[:max]); never splits a surrogate pair. */
export function cropCodePoints(s: string, max: number): string {
  if (s.length <= max) return s;
  if (!SURROGATE_RE.test(s)) return s.slice(0, max);
  let n = 0;
  let i = 0;
  while (i < s.length && n < max) {
    const c = s.charCodeAt(i);
    const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < s.length &&
      s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff;
    i += pair ? 2 : 1;
    n++;
  }
  return s.slice(0, i);
}

// ---------------------------------------------------------------------------------------------
// Iteration

/** One row group's documents, with where it came from. */
export interface RowGroupBatch {
  /** Position of the shard within the split's shard list (nanochat's pq_idx). */
  shardIndex: number;
  /** Path of the shard file. */
  shardPath: string;
  /** Row group index within the shard. */
  rowGroupIndex: number;
  /** Row group index counted over the whole split, shard after shard. */
  globalRowGroupIndex: number;
  /** The documents, one per row. */
  texts: string[];
}

/** Options of {@link iterRowGroups}. */
export interface IterRowGroupsOptions {
  /** Folder holding the shards. */
  dataDir: string;
  /** First row group this reader takes (the DDP rank); default 0. */
  start?: number;
  /** Take every `step`-th row group (the DDP world size); default 1. */
  step?: number;
  /**
   * "global" (default) strides over all row groups of the split counted shard after shard, so ranks
   * share the work evenly even when shards have fewer row groups than there are ranks.
   * "per-shard" restarts the striding in every shard: `range(start, num_row_groups, step)` per file,
   * exactly what nanochat's parquets_iter_batched does.
   */
  stride?: "global" | "per-shard";
}

/**
 * Yields the row groups of a split in order, taking every `step`-th one from `start`. Shards are
 * opened one at a time (only their footers are read up front) and closed as soon as they are done.
 */
export async function* iterRowGroups(
  split: Split,
  options: IterRowGroupsOptions,
): AsyncGenerator<RowGroupBatch> {
  const { dataDir, start = 0, step = 1, stride = "global" } = options;
  if (!Number.isInteger(start) || !Number.isInteger(step) || start < 0 || step < 1) {
    throw new RangeError(`iterRowGroups needs start >= 0 and step >= 1 (got start=${start}, step=${step})`);
  }
  const paths = await listSplit(dataDir, split);
  let offset = 0; // global index of the current shard's first row group
  for (const [shardIndex, shardPath] of paths.entries()) {
    const shard = await ParquetShard.open(shardPath);
    try {
      const n = shard.numRowGroups;
      // first local index this reader takes in this shard
      let first: number;
      if (stride === "per-shard") first = start;
      else first = offset <= start ? start - offset : (step - ((offset - start) % step)) % step;
      for (let rg = first; rg < n; rg += step) {
        const texts = await shard.readRowGroup(rg);
        yield { shardIndex, shardPath, rowGroupIndex: rg, globalRowGroupIndex: offset + rg, texts };
      }
      offset += n;
    } finally {
      shard.close();
    }
  }
}

/** Options of {@link iterTrainingText}. */
export interface TrainingTextOptions {
  /** Folder holding the shards. */
  dataDir: string;
  /** Stop once more than this many characters have been yielded. */
  maxChars: number;
  /** Crop every document to this many characters. */
  docCap: number;
}

/**
 * The tokenizer's training text, as nanochat's tok_train: train-split documents in order, each
 * cropped to `docCap` characters; the document that takes the running total past `maxChars` is
 * still yielded, then iteration stops. Characters are code points, as Python counts them.
 */
export async function* iterTrainingText(options: TrainingTextOptions): AsyncGenerator<string> {
  const { dataDir, maxChars, docCap } = options;
  if (!(maxChars >= 0) || !(docCap >= 0)) {
    throw new RangeError(`iterTrainingText needs maxChars >= 0 and docCap >= 0`);
  }
  let total = 0;
  for await (const batch of iterRowGroups("train", { dataDir })) {
    for (const doc of batch.texts) {
      const text = cropCodePoints(doc, docCap);
      total += codePointLength(text);
      yield text;
      if (total > maxChars) return;
    }
  }
}

/** Size and content counts of one shard, as `nanochat data info` shows them. */
export interface ShardStats {
  path: string;
  rows: number;
  rowGroups: number;
  /** Total characters (code points) of all documents; needs every row group read. */
  chars: number;
  /** File size in bytes. */
  bytes: number;
}

/** Reads a whole shard to count its characters; `onRowGroup` is called after each row group (for progress). */
export function shardStats(path: string, onRowGroup?: () => void): Promise<ShardStats> {
  return withShard(path, async (shard) => {
    let chars = 0;
    for (let i = 0; i < shard.numRowGroups; i++) {
      for (const text of await shard.readRowGroup(i)) chars += codePointLength(text);
      onRowGroup?.();
    }
    return { path, rows: shard.numRows, rowGroups: shard.numRowGroups, chars, bytes: shard.byteLength };
  });
}
