// The pretraining dataloader: documents from parquet shards, tokenized on the fly, packed into
// micro-batches of B rows of T tokens, with exact resume.
//
// Design
// ------
// * Documents come from `iterRowGroups(split, {start, step: worldSize})`: rank r of W reads the
//   row groups r, r+W, r+2W, ... of the split (counted globally, shard after shard). They are
//   tokenized `tokenizerBatchSize` (128) documents at a time, each with <|bos|> prepended.
//   Tokenizing one document does not depend on the others in its batch, so the token sequence of
//   every document is a pure function of (row group, document index).
// * Both splits loop forever over epochs by default (the epoch counter starts at 1), as nanochat's
//   train and val loaders do; with `loop: false` the loader ends after one pass (a batch that
//   cannot be filled is dropped) — handy for a fixed evaluation pass over val.
// * packing "stream" (nanochat A): all documents form one token stream; each batch takes the
//   next B*T+1 tokens: inputs = the first B*T, targets = the last B*T. The +1 is consumed, not
//   carried over. Rows start mid-document.
// * packing "bestfit" (nanochat HEAD): a buffer of at least `bufferSize` (1000) tokenized docs.
//   Each row has capacity T+1 and is filled by repeatedly taking the largest buffered doc that
//   fits entirely (the first such in buffer order on ties); when none fits, the shortest doc (first
//   on ties) is taken and cropped to fill the row exactly; its rest is discarded. The buffer is
//   topped up before every placement. inputs = row[:-1], targets = row[1:]. Every row starts with
//   BOS and there is no padding; `stats` counts the discarded tokens for logging.
//
// Exact resume
// ------------
// Every batch carries `state`, the loader's state *after* that batch; a loader created with
// `resumeState` yields exactly the batches that would have followed. The state never holds tokens:
// * a cursor {epoch, rowGroup, doc}: the next document to tokenize, as (global row group index,
//   document index within it). Resuming re-reads that row group and goes on from there; the
//   tokenizer batches stay aligned to multiples of `tokenizerBatchSize` within a row group.
// * stream: the cursor is the document holding the next unconsumed token, plus `tokenOffset`,
//   how many of its tokens (BOS included) were already consumed. Everything after follows.
// * bestfit: documents in the buffer are always whole (a cropped doc leaves the buffer), so the
//   buffer is stored as references in buffer order, `buffer: [[rowGroup, [doc, ...]], ...]` (runs
//   of consecutive entries from one row group). Resuming re-reads those row groups and
//   re-tokenizes just those documents. A long doc can wait in the buffer for a long time, which is
//   why the buffer is stored by reference rather than re-derived from a position. With the default
//   bufferSize the state is about 1000 small integers.
// * the state also records split, packing, rank and worldSize (checked on resume) and the
//   cumulative packing stats (for logging only; they never change the batches).
import { UserError } from "../common/errors.ts";
import { iterRowGroups, type RowGroupBatch, type Split } from "../data/parquet.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";

/** How documents are packed into rows. */
export type Packing = "stream" | "bestfit";

/** What the loader needs of a tokenizer. */
export type LoaderTokenizer = Pick<Tokenizer, "bosId" | "encodeBatchRaw">;

/** Cumulative packing counts, for logging utilization. */
export interface PackingStats {
  /** Batches yielded. */
  batches: number;
  /** Tokens placed in rows (bestfit: B*(T+1) per batch; stream: B*T+1 per batch). */
  tokens: number;
  /** Documents placed whole (bestfit only). */
  wholeDocs: number;
  /** Documents cropped to fill a row (bestfit only). */
  croppedDocs: number;
  /** Tokens thrown away by cropping (bestfit only). */
  croppedTokens: number;
}

/** Everything needed to resume a loader exactly; plain JSON. */
export interface LoaderState {
  version: 1;
  split: Split;
  packing: Packing;
  rank: number;
  worldSize: number;
  /** Epoch of the cursor (starts at 1). */
  epoch: number;
  /** Global row group index of the cursor (≡ rank mod worldSize). */
  rowGroup: number;
  /** Document index within that row group. */
  doc: number;
  /** stream: tokens of the cursor document already consumed; always 0 for bestfit. */
  tokenOffset: number;
  /** bestfit: the buffered documents in order, as runs [rowGroup, [doc indices]]; empty for stream. */
  buffer: [number, number[]][];
  /** Cumulative counts (for logging). */
  stats: PackingStats;
}

/** Options of {@link PretrainLoader}. */
export interface PretrainLoaderOptions {
  split: Split;
  /** Rows per micro-batch. */
  B: number;
  /** Tokens per row. */
  T: number;
  tokenizer: LoaderTokenizer;
  /** Folder holding the shards. */
  dataDir: string;
  /** This process's rank (default 0). */
  rank?: number;
  /** Number of processes (default 1). */
  worldSize?: number;
  /** Documents per tokenizer call (default 128, as nanochat). */
  tokenizerBatchSize?: number;
  /** Packing mode (default "bestfit", as nanochat HEAD). */
  packing?: Packing;
  /** bestfit: minimum number of buffered documents (default 1000). */
  bufferSize?: number;
  /** Loop over epochs forever (default true); false ends after one pass. */
  loop?: boolean;
  /** A batch's `state`, to continue right after that batch. */
  resumeState?: LoaderState;
  /** Called each time a row group is read for new documents (not when restoring a buffer). */
  onRowGroup?: (info: { globalRowGroupIndex: number; shardIndex: number; epoch: number }) => void;
}

/** One micro-batch: B rows of T tokens, row-major. */
export interface Batch {
  inputs: Int32Array;
  targets: Int32Array;
  /** The loader's state after this batch: resume from it to get the next batch. */
  state: LoaderState;
}

/** A tokenized document with where it came from. */
interface Doc {
  epoch: number;
  rowGroup: number;
  doc: number;
  /** BOS followed by the document's tokens. */
  tokens: Uint32Array;
}

interface Cursor {
  epoch: number;
  rowGroup: number;
  doc: number;
}

function positiveInt(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new UserError(`${name} must be a positive integer (got ${String(value)})`);
  }
  return value;
}

/** Tokenizes `texts` (document indices `first`, `first+1`, ...) with BOS prepended to each. */
function tokenizeDocs(
  tokenizer: LoaderTokenizer,
  texts: string[],
  epoch: number,
  rowGroup: number,
  docIndices: number[],
): Doc[] {
  const bos = tokenizer.bosId;
  const { ids, offsets } = tokenizer.encodeBatchRaw(texts);
  const docs: Doc[] = [];
  for (let i = 0; i < texts.length; i++) {
    const a = Number(offsets[i]);
    const b = Number(offsets[i + 1]);
    const tokens = new Uint32Array(b - a + 1);
    tokens[0] = bos;
    tokens.set(ids.subarray(a, b), 1);
    docs.push({ epoch, rowGroup, doc: docIndices[i], tokens });
  }
  return docs;
}

/** Reads the documents of one row group by its global index. */
async function readRowGroupAt(split: Split, dataDir: string, rowGroup: number): Promise<string[]> {
  const gen = iterRowGroups(split, { dataDir, start: rowGroup, step: 1 });
  try {
    const r = await gen.next();
    if (r.done || r.value.globalRowGroupIndex !== rowGroup) {
      throw new UserError(
        `the resume state refers to row group ${rowGroup} of the ${split} split, which ${dataDir} does not ` +
          `have: resume with the same data folder the state was saved with`,
      );
    }
    return r.value.texts;
  } finally {
    await gen.return(undefined);
  }
}

/** Yields tokenized documents chunk by chunk from a cursor, row group by row group, epoch by epoch. */
class DocSource {
  #epoch: number;
  #rowGroup: number;
  #doc: number;
  #texts: string[] | null = null;
  #gen: AsyncGenerator<RowGroupBatch> | null = null;
  #readThisEpoch = 0;
  #resumed: boolean;

  constructor(
    readonly split: Split,
    readonly dataDir: string,
    readonly rank: number,
    readonly worldSize: number,
    readonly batchSize: number,
    readonly tokenizer: LoaderTokenizer,
    readonly loop: boolean,
    cursor: Cursor,
    readonly onRowGroup?: PretrainLoaderOptions["onRowGroup"],
  ) {
    this.#epoch = cursor.epoch;
    this.#rowGroup = cursor.rowGroup;
    this.#doc = cursor.doc;
    this.#resumed = !(cursor.rowGroup === rank && cursor.doc === 0);
  }

  /** The next document to tokenize. */
  get cursor(): Cursor {
    return { epoch: this.#epoch, rowGroup: this.#rowGroup, doc: this.#doc };
  }

  /** The next tokenized documents (up to batchSize), or null once a non-looping pass is over. */
  async nextChunk(): Promise<Doc[] | null> {
    while (this.#texts === null || this.#doc >= this.#texts.length) {
      if (!(await this.#advance())) return null;
    }
    const texts = this.#texts;
    // chunks stay aligned to multiples of batchSize within the row group, as nanochat slices them
    const end = Math.min(texts.length, (Math.floor(this.#doc / this.batchSize) + 1) * this.batchSize);
    const indices: number[] = [];
    for (let i = this.#doc; i < end; i++) indices.push(i);
    const docs = tokenizeDocs(
      this.tokenizer,
      texts.slice(this.#doc, end),
      this.#epoch,
      this.#rowGroup,
      indices,
    );
    this.#doc = end;
    return docs;
  }

  async #advance(): Promise<boolean> {
    const first = this.#gen === null;
    if (first) {
      // the first read is the cursor's row group itself; later ones follow the rank's stride
      this.#gen = this.#open(this.#rowGroup);
    }
    for (;;) {
      const r = await this.#gen!.next();
      if (!r.done) {
        const batch = r.value;
        if (first && batch.globalRowGroupIndex !== this.#rowGroup) break; // reported below
        if (!first) {
          this.#rowGroup = batch.globalRowGroupIndex;
          this.#doc = 0;
        }
        this.#texts = batch.texts;
        this.#readThisEpoch++;
        this.onRowGroup?.({
          globalRowGroupIndex: batch.globalRowGroupIndex,
          shardIndex: batch.shardIndex,
          epoch: this.#epoch,
        });
        return true;
      }
      if (first) break;
      // end of the split
      if (this.#readThisEpoch === 0) break;
      if (!this.loop) return false;
      this.#epoch++;
      this.#readThisEpoch = 0;
      this.#gen = this.#open(this.rank);
    }
    this.close();
    if (this.#resumed) {
      throw new UserError(
        `the resume state refers to row group ${this.#rowGroup} of the ${this.split} split, which ` +
          `${this.dataDir} does not have: resume with the same data folder the state was saved with`,
      );
    }
    throw new UserError(
      `the ${this.split} split in ${this.dataDir} has no row group for rank ${this.rank} of ${this.worldSize} ` +
        `(it has fewer than ${this.rank + 1} row groups): add shards or use fewer processes`,
    );
  }

  #open(start: number): AsyncGenerator<RowGroupBatch> {
    return iterRowGroups(this.split, { dataDir: this.dataDir, start, step: this.worldSize });
  }

  /** Closes the open shard, if any. */
  close(): void {
    const gen = this.#gen;
    this.#gen = null;
    if (gen) gen.return(undefined).catch(() => {});
  }
}

function emptyStats(): PackingStats {
  return { batches: 0, tokens: 0, wholeDocs: 0, croppedDocs: 0, croppedTokens: 0 };
}

/** Fraction of tokens read that were thrown away by cropping (0 for stream packing). */
export function discardFraction(stats: PackingStats): number {
  const total = stats.tokens + stats.croppedTokens;
  return total === 0 ? 0 : stats.croppedTokens / total;
}

/** One log line about packing utilization. */
export function formatPackingStats(stats: PackingStats): string {
  return `${stats.batches} batches, ${stats.tokens} tokens, ${stats.wholeDocs} whole docs, ` +
    `${stats.croppedDocs} cropped docs, ${stats.croppedTokens} tokens cropped ` +
    `(${(100 * discardFraction(stats)).toFixed(1)}% discarded)`;
}

function checkState(
  state: LoaderState,
  split: Split,
  packing: Packing,
  rank: number,
  worldSize: number,
): void {
  const bad = (why: string) => new UserError(`cannot resume the dataloader: ${why}`);
  if (state === null || typeof state !== "object" || state.version !== 1) {
    throw bad("the state is not a version-1 dataloader state");
  }
  if (state.split !== split) throw bad(`the state is for the ${state.split} split, not ${split}`);
  if (state.packing !== packing) throw bad(`the state is for ${state.packing} packing, not ${packing}`);
  if (state.rank !== rank || state.worldSize !== worldSize) {
    throw bad(`the state is for rank ${state.rank} of ${state.worldSize}, not rank ${rank} of ${worldSize}`);
  }
  const nat = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 0;
  if (
    !nat(state.epoch) || state.epoch < 1 || !nat(state.rowGroup) || !nat(state.doc) || !nat(state.tokenOffset)
  ) {
    throw bad("the cursor (epoch, rowGroup, doc, tokenOffset) is malformed");
  }
  if (state.rowGroup % worldSize !== rank) {
    throw bad(`row group ${state.rowGroup} does not belong to rank ${rank} of ${worldSize}`);
  }
  if (
    !Array.isArray(state.buffer) ||
    !state.buffer.every((r) => Array.isArray(r) && nat(r[0]) && Array.isArray(r[1]) && r[1].every(nat))
  ) {
    throw bad("the buffer is malformed");
  }
  if (packing === "stream" && state.buffer.length > 0) throw bad("a stream state has no buffer");
  if (packing === "bestfit" && state.tokenOffset !== 0) throw bad("a bestfit state has no token offset");
}

/**
 * The pretraining dataloader. Use `next()` or `for await`; every batch holds fresh arrays.
 * Errors about the options are thrown by the constructor; errors about the data by the first `next()`.
 */
export class PretrainLoader implements AsyncIterable<Batch> {
  readonly split: Split;
  readonly B: number;
  readonly T: number;
  readonly rank: number;
  readonly worldSize: number;
  readonly packing: Packing;
  readonly bufferSize: number;
  readonly tokenizerBatchSize: number;
  readonly #options: PretrainLoaderOptions;
  #source: DocSource;
  #stats: PackingStats;
  /** stream: queued documents from #head on; bestfit: the buffer. */
  #docs: Doc[] = [];
  #head = 0;
  /** stream: tokens of #docs[#head] already consumed. */
  #offset = 0;
  #restore: [number, number[]][] | null = null;
  #done = false;

  constructor(options: PretrainLoaderOptions) {
    const { split, tokenizer, dataDir } = options;
    if (split !== "train" && split !== "val") {
      throw new UserError(`split must be "train" or "val" (got ${split})`);
    }
    this.B = positiveInt(options.B, "B (rows per batch)");
    this.T = positiveInt(options.T, "T (sequence length)");
    this.worldSize = positiveInt(options.worldSize ?? 1, "worldSize");
    const rank = options.rank ?? 0;
    if (typeof rank !== "number" || !Number.isInteger(rank) || rank < 0 || rank >= this.worldSize) {
      throw new UserError(`rank must be an integer in [0, ${this.worldSize}) (got ${String(rank)})`);
    }
    this.rank = rank;
    this.tokenizerBatchSize = positiveInt(options.tokenizerBatchSize ?? 128, "tokenizerBatchSize");
    this.bufferSize = positiveInt(options.bufferSize ?? 1000, "bufferSize");
    const packing = options.packing ?? "bestfit";
    if (packing !== "stream" && packing !== "bestfit") {
      throw new UserError(`packing must be "stream" or "bestfit" (got ${String(packing)})`);
    }
    this.packing = packing;
    if (typeof dataDir !== "string" || dataDir === "") throw new UserError("dataDir must be a folder path");
    if (!tokenizer) throw new UserError("a tokenizer is required");
    this.split = split;
    this.#options = options;
    let cursor: Cursor = { epoch: 1, rowGroup: rank, doc: 0 };
    this.#stats = emptyStats();
    const state = options.resumeState;
    if (state !== undefined) {
      checkState(state, split, packing, rank, this.worldSize);
      cursor = { epoch: state.epoch, rowGroup: state.rowGroup, doc: state.doc };
      this.#offset = state.tokenOffset;
      this.#restore = state.buffer.length > 0 ? structuredClone(state.buffer) : null;
      if (state.stats) this.#stats = { ...emptyStats(), ...state.stats };
    }
    this.#source = new DocSource(
      split,
      dataDir,
      rank,
      this.worldSize,
      this.tokenizerBatchSize,
      tokenizer,
      options.loop ?? true,
      cursor,
      options.onRowGroup,
    );
  }

  /** Cumulative packing counts (a copy). */
  get stats(): PackingStats {
    return { ...this.#stats };
  }

  /** The state after the last batch yielded (the initial state before any). */
  get state(): LoaderState {
    let cursor = this.#source.cursor;
    let tokenOffset = 0;
    const buffer: [number, number[]][] = [];
    if (this.packing === "stream") {
      if (this.#head < this.#docs.length) {
        const d = this.#docs[this.#head];
        cursor = { epoch: d.epoch, rowGroup: d.rowGroup, doc: d.doc };
      }
      // with no queued document the offset is 0, or the resumed offset into the source's cursor document
      tokenOffset = this.#offset;
    } else {
      const pending = this.#restore;
      if (pending) { for (const [g, ds] of pending) buffer.push([g, [...ds]]); }
      for (const d of this.#docs) {
        const last = buffer[buffer.length - 1];
        if (last && last[0] === d.rowGroup) last[1].push(d.doc);
        else buffer.push([d.rowGroup, [d.doc]]);
      }
    }
    return {
      version: 1,
      split: this.split,
      packing: this.packing,
      rank: this.rank,
      worldSize: this.worldSize,
      epoch: cursor.epoch,
      rowGroup: cursor.rowGroup,
      doc: cursor.doc,
      tokenOffset,
      buffer,
      stats: { ...this.#stats },
    };
  }

  /** The next micro-batch, or null when a non-looping loader has run out of data. */
  async next(): Promise<Batch | null> {
    if (this.#done) return null;
    try {
      if (this.#restore) await this.#restoreBuffer();
      const batch = this.packing === "stream" ? await this.#nextStream() : await this.#nextBestFit();
      if (batch === null) this.close();
      return batch;
    } catch (err) {
      this.close();
      throw err;
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Batch> {
    try {
      for (;;) {
        const b = await this.next();
        if (b === null) return;
        yield b;
      }
    } finally {
      this.close();
    }
  }

  /** Releases the open shard; the loader yields nothing more. */
  close(): void {
    this.#done = true;
    this.#source.close();
  }

  /** bestfit resume: re-reads and re-tokenizes the buffered documents, in their order. */
  async #restoreBuffer(): Promise<void> {
    const runs = this.#restore!;
    const byGroup = new Map<number, Set<number>>();
    for (const [g, ds] of runs) {
      let s = byGroup.get(g);
      if (!s) byGroup.set(g, s = new Set());
      for (const d of ds) s.add(d);
    }
    const tokens = new Map<string, Doc>();
    for (const [g, set] of byGroup) {
      const texts = await readRowGroupAt(this.split, this.#options.dataDir, g);
      const indices = [...set].sort((a, b) => a - b);
      for (const i of indices) {
        if (i >= texts.length) {
          throw new UserError(
            `cannot resume the dataloader: row group ${g} has ${texts.length} documents, ` +
              `but the state refers to document ${i}`,
          );
        }
      }
      for (const d of tokenizeDocs(this.#options.tokenizer, indices.map((i) => texts[i]), 0, g, indices)) {
        tokens.set(`${g}:${d.doc}`, d);
      }
    }
    const docs: Doc[] = [];
    for (const [g, ds] of runs) for (const d of ds) docs.push(tokens.get(`${g}:${d}`)!);
    this.#docs = docs;
    this.#restore = null;
  }

  async #nextStream(): Promise<Batch | null> {
    const need = this.B * this.T + 1;
    let avail = -this.#offset;
    for (let i = this.#head; i < this.#docs.length; i++) avail += this.#docs[i].tokens.length;
    while (avail < need) {
      const chunk = await this.#source.nextChunk();
      if (chunk === null) return null;
      if (this.#head > 0 && this.#head * 2 > this.#docs.length) {
        this.#docs = this.#docs.slice(this.#head);
        this.#head = 0;
      }
      for (const d of chunk) {
        this.#docs.push(d);
        avail += d.tokens.length;
      }
    }
    const buf = new Int32Array(need);
    let filled = 0;
    while (filled < need) {
      const d = this.#docs[this.#head].tokens;
      const take = Math.min(d.length - this.#offset, need - filled);
      if (take <= 0) {
        throw new UserError(
          `cannot resume the dataloader: tokenOffset ${this.#offset} is past its document's end`,
        );
      }
      buf.set(d.subarray(this.#offset, this.#offset + take), filled);
      filled += take;
      this.#offset += take;
      if (this.#offset === d.length) {
        this.#head++;
        this.#offset = 0;
      }
    }
    this.#stats.batches++;
    this.#stats.tokens += need;
    return { inputs: buf.slice(0, need - 1), targets: buf.slice(1), state: this.state };
  }

  async #nextBestFit(): Promise<Batch | null> {
    const { B, T } = this;
    const cap = T + 1;
    const inputs = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    const row = new Int32Array(cap);
    const buffer = this.#docs;
    const stats = { ...this.#stats };
    // the buffer is only mutated in place, so a batch cut short by the end of data can be dropped
    for (let b = 0; b < B; b++) {
      let len = 0;
      while (len < cap) {
        while (buffer.length < this.bufferSize) {
          const chunk = await this.#source.nextChunk();
          if (chunk === null) break;
          for (const d of chunk) buffer.push(d);
        }
        if (buffer.length === 0) return null;
        const remaining = cap - len;
        let best = -1;
        let bestLen = 0;
        for (let i = 0; i < buffer.length; i++) {
          const n = buffer[i].tokens.length;
          if (n <= remaining && n > bestLen) {
            best = i;
            bestLen = n;
          }
        }
        if (best >= 0) {
          const [doc] = buffer.splice(best, 1);
          row.set(doc.tokens, len);
          len += doc.tokens.length;
          stats.wholeDocs++;
        } else {
          let shortest = 0;
          for (let i = 1; i < buffer.length; i++) {
            if (buffer[i].tokens.length < buffer[shortest].tokens.length) shortest = i;
          }
          const [doc] = buffer.splice(shortest, 1);
          row.set(doc.tokens.subarray(0, remaining), len);
          len = cap;
          stats.croppedDocs++;
          stats.croppedTokens += doc.tokens.length - remaining;
        }
      }
      inputs.set(row.subarray(0, T), b * T);
      targets.set(row.subarray(1), b * T);
    }
    stats.batches++;
    stats.tokens += B * cap;
    this.#stats = stats;
    return { inputs, targets, state: this.state };
  }
}

/** Convenience: the batches of a new {@link PretrainLoader} as an async generator. */
export function pretrainBatches(options: PretrainLoaderOptions): AsyncGenerator<Batch> {
  return new PretrainLoader(options)[Symbol.asyncIterator]();
}
