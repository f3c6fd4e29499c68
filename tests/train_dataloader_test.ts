// Tests of the pretraining dataloader: stream and best-fit packing against straightforward
// reference computations, rank striding, exact resume from a JSON state, determinism, and errors.
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { join } from "node:path";
import { parquetWriteBuffer } from "hyparquet-writer";
import { UserError } from "../src/common/errors.ts";
import { iterRowGroups, shardFileName, type Split } from "../src/data/parquet.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import {
  type Batch,
  discardFraction,
  formatPackingStats,
  type LoaderState,
  PretrainLoader,
  type PretrainLoaderOptions,
} from "../src/train/dataloader.ts";
import { sharedPretrainDir } from "./helpers.ts";

// ---------------------------------------------------------------------------------------------
// Fixture: 3 train shards (40, 25, 18 docs in row groups of 8: 5 + 4 + 3 = 12 row groups) and a
// val shard (10 docs, 2 row groups). Docs have 0..20 words, a few are long (80 words).

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  "the",
  "cat",
  "sat",
  "on",
  "a",
  "mat",
  "and",
  "dog",
  "ran",
  "far",
  "away",
  "from",
  "home",
  "42",
];

function makeDoc(rand: () => number): string {
  const n = rand() < 0.08 ? 80 : Math.floor(rand() * 21);
  return Array.from({ length: n }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(" ");
}

function writeParquet(path: string, texts: string[], rowGroupSize: number): void {
  const buffer = parquetWriteBuffer({
    columnData: [{ name: "text", data: texts, type: "STRING" }],
    rowGroupSize,
  });
  Deno.writeFileSync(path, new Uint8Array(buffer));
}

const FIXTURE_DIR = Deno.makeTempDirSync({ prefix: "nanochat_loader_" });
const ALL_TEXTS: string[] = [];
{
  const rand = rng(7);
  for (const [s, rows] of [40, 25, 18, 10].entries()) {
    const texts = Array.from({ length: rows }, () => makeDoc(rand));
    ALL_TEXTS.push(...texts);
    writeParquet(join(FIXTURE_DIR, shardFileName(s)), texts, 8);
  }
}
const TRAIN_ROW_GROUPS = 12;
const TOK = await Tokenizer.train(ALL_TEXTS, { vocabSize: 256 + 9 + 20 });
const BOS = TOK.bosId;

globalThis.addEventListener("unload", () => Deno.removeSync(FIXTURE_DIR, { recursive: true }));

function loader(opts: Partial<PretrainLoaderOptions> = {}): PretrainLoader {
  return new PretrainLoader({ split: "train", B: 4, T: 32, tokenizer: TOK, dataDir: FIXTURE_DIR, ...opts });
}

async function take(l: PretrainLoader, n: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for (let i = 0; i < n; i++) {
    const b = await l.next();
    assert(b !== null, `batch ${i} missing`);
    out.push(b);
  }
  return out;
}

/** Token lists (BOS + encodeRaw, one document at a time) of one pass over a rank's row groups. */
async function epochDocs(
  split: Split,
  rank = 0,
  worldSize = 1,
  dataDir = FIXTURE_DIR,
): Promise<{ rowGroup: number; docs: number[][] }[]> {
  const out = [];
  for await (const rg of iterRowGroups(split, { dataDir, start: rank, step: worldSize })) {
    out.push({ rowGroup: rg.globalRowGroupIndex, docs: rg.texts.map((t) => [BOS, ...TOK.encodeRaw(t)]) });
  }
  return out;
}

const same = (a: Batch[], b: Batch[]) =>
  assertEquals(
    a.map((x) => [Array.from(x.inputs), Array.from(x.targets)]),
    b.map((x) => [Array.from(x.inputs), Array.from(x.targets)]),
  );

// ---------------------------------------------------------------------------------------------
// stream packing

Deno.test("stream: batches are consecutive B*T+1 windows of the BOS-prefixed document stream", async () => {
  const B = 4, T = 32;
  const groups = await epochDocs("train");
  const epochStream: number[] = [];
  const docStarts = new Set<number>();
  for (const g of groups) {
    for (const d of g.docs) {
      docStarts.add(epochStream.length);
      epochStream.push(...d);
    }
  }
  const n = Math.ceil((2.5 * epochStream.length) / (B * T + 1)); // crosses two epoch boundaries
  const stream = [...epochStream, ...epochStream, ...epochStream];
  const l = loader({ packing: "stream", tokenizerBatchSize: 5 });
  const batches = await take(l, n);
  l.close();
  for (const [i, b] of batches.entries()) {
    const w = stream.slice(i * (B * T + 1), (i + 1) * (B * T + 1));
    assertEquals(Array.from(b.inputs), w.slice(0, -1), `inputs of batch ${i}`);
    assertEquals(Array.from(b.targets), w.slice(1), `targets of batch ${i}`);
    // BOS appears exactly at document starts
    for (let j = 0; j < B * T; j++) {
      const pos = (i * (B * T + 1) + j) % epochStream.length;
      assertEquals(b.inputs[j] === BOS, docStarts.has(pos), `BOS at batch ${i} position ${j}`);
    }
  }
  assertEquals(batches[0].inputs[0], BOS);
  assertEquals(batches.at(-1)!.state.epoch, 3);
  assertEquals(l.stats.tokens, n * (B * T + 1));
  assertEquals(l.stats.croppedTokens, 0);
});

// ---------------------------------------------------------------------------------------------
// best-fit packing

/** nanochat HEAD's best-fit packing over an explicit document sequence, written out plainly. */
function referenceBestFit(
  docStream: number[][],
  chunkSizes: number[],
  B: number,
  T: number,
  bufferSize: number,
  batches: number,
): { rows: number[][]; cropped: number } {
  const buffer: number[][] = [];
  let next = 0;
  let chunk = 0;
  let cropped = 0;
  const rows: number[][] = [];
  for (let r = 0; r < batches * B; r++) {
    const row: number[] = [];
    while (row.length < T + 1) {
      while (buffer.length < bufferSize) {
        const k = chunkSizes[chunk++ % chunkSizes.length];
        for (let i = 0; i < k; i++) buffer.push(docStream[next++ % docStream.length]);
      }
      const remaining = T + 1 - row.length;
      const fits = buffer.map((d, i) => [d.length, i]).filter(([n]) => n <= remaining);
      if (fits.length > 0) {
        const maxLen = Math.max(...fits.map(([n]) => n));
        const i = fits.find(([n]) => n === maxLen)![1];
        row.push(...buffer.splice(i, 1)[0]);
      } else {
        const minLen = Math.min(...buffer.map((d) => d.length));
        const d = buffer.splice(buffer.findIndex((x) => x.length === minLen), 1)[0];
        row.push(...d.slice(0, remaining));
        cropped += d.length - remaining;
      }
    }
    rows.push(row);
  }
  return { rows, cropped };
}

Deno.test("bestfit: matches the reference packing; rows start with BOS and hold whole or cropped docs", async () => {
  const B = 4, T = 32, bufferSize = 20, tbs = 5;
  const groups = await epochDocs("train");
  const docStream = groups.flatMap((g) => g.docs);
  // tokenizer batches are aligned within each row group
  const chunkSizes = groups.flatMap((g) => {
    const sizes = [];
    for (let i = 0; i < g.docs.length; i += tbs) sizes.push(Math.min(tbs, g.docs.length - i));
    return sizes;
  });
  const n = 40; // more than two epochs
  const l = loader({ packing: "bestfit", bufferSize, tokenizerBatchSize: tbs });
  const batches = await take(l, n);
  l.close();
  const ref = referenceBestFit(docStream, chunkSizes, B, T, bufferSize, n);
  const known = new Set(docStream.map((d) => d.join(",")));
  for (const [i, b] of batches.entries()) {
    for (let r = 0; r < B; r++) {
      const expected = ref.rows[i * B + r];
      const inputs = Array.from(b.inputs.subarray(r * T, (r + 1) * T));
      const targets = Array.from(b.targets.subarray(r * T, (r + 1) * T));
      assertEquals(inputs, expected.slice(0, -1), `inputs of batch ${i} row ${r}`);
      assertEquals(targets, expected.slice(1), `targets of batch ${i} row ${r}`);
      // independent checks: BOS first, no padding, each segment a whole doc or (last) a doc's prefix
      const row = [...inputs, targets[T - 1]];
      assertEquals(row[0], BOS, `batch ${i} row ${r} starts with BOS`);
      const starts = row.flatMap((t, j) => (t === BOS ? [j] : []));
      for (const [k, s] of starts.entries()) {
        const seg = row.slice(s, starts[k + 1] ?? row.length);
        if (k < starts.length - 1) assert(known.has(seg.join(",")), `segment ${k} is a whole document`);
        else {assert(docStream.some((d) =>
            d.length >= seg.length && d.slice(0, seg.length).join(",") === seg.join(",")
          ));}
      }
    }
  }
  const stats = l.stats;
  assertEquals(stats.batches, n);
  assertEquals(stats.tokens, n * B * (T + 1));
  assertEquals(stats.croppedTokens, ref.cropped);
  assert(stats.croppedDocs > 0 && stats.wholeDocs > 0);
  assert(discardFraction(stats) > 0 && discardFraction(stats) < 1);
  assert(formatPackingStats(stats).includes("% discarded"));
  assert(batches.at(-1)!.state.epoch >= 3, "the loader looped over epochs");
});

// ---------------------------------------------------------------------------------------------
// ranks

async function rowGroupsRead(
  rank: number,
  worldSize: number,
  packing: "stream" | "bestfit",
): Promise<number[]> {
  const seen: number[] = [];
  const l = loader({
    rank,
    worldSize,
    packing,
    loop: false,
    onRowGroup: (i) => seen.push(i.globalRowGroupIndex),
  });
  for await (const _ of l) { /* drain */ }
  return seen;
}

Deno.test("ranks read disjoint row groups that together cover the split", async () => {
  for (const packing of ["stream", "bestfit"] as const) {
    for (const W of [2, 3]) {
      const all: number[] = [];
      for (let r = 0; r < W; r++) {
        const seen = await rowGroupsRead(r, W, packing);
        assert(seen.length > 0);
        assert(seen.every((g) => g % W === r), `rank ${r} of ${W} reads only its own row groups`);
        all.push(...seen);
      }
      assertEquals(all.sort((a, b) => a - b), Array.from({ length: TRAIN_ROW_GROUPS }, (_, i) => i));
    }
  }
  // rank 1's first stream batch starts with row group 1's first document
  const [b] = await take(loader({ rank: 1, worldSize: 2, packing: "stream" }), 1);
  const first = (await epochDocs("train", 1, 2))[0];
  assertEquals(first.rowGroup, 1);
  assertEquals(Array.from(b.inputs.subarray(0, first.docs[0].length)), first.docs[0]);
});

// ---------------------------------------------------------------------------------------------
// resume and determinism

for (const packing of ["stream", "bestfit"] as const) {
  Deno.test(`${packing}: resuming after 7 batches from a JSON state gives batches 8..17`, async () => {
    const opts = { packing, bufferSize: 20, tokenizerBatchSize: 5 };
    const full = await take(loader(opts), 17);
    const first = loader(opts);
    const head = await take(first, 7);
    first.close();
    same(head, full.slice(0, 7));
    const json = JSON.stringify(head[6].state);
    const state = JSON.parse(json) as LoaderState;
    assertEquals(state, first.state);
    const resumed = loader({ ...opts, resumeState: state });
    same(await take(resumed, 10), full.slice(7, 17));
    assertEquals(resumed.stats, full[16].state.stats);
    resumed.close();
  });

  Deno.test(`${packing}: resuming at every batch, on rank 1 of 2, matches the uninterrupted run`, async () => {
    const opts = { packing, bufferSize: 12, tokenizerBatchSize: 3, rank: 1, worldSize: 2, B: 2, T: 24 };
    const full = await take(loader(opts), 30);
    assert(full.at(-1)!.state.epoch >= 2);
    for (let k = 1; k < 29; k++) {
      const resumed = loader({ ...opts, resumeState: JSON.parse(JSON.stringify(full[k - 1].state)) });
      same(await take(resumed, 2), full.slice(k, k + 2));
      resumed.close();
    }
  });

  Deno.test(`${packing}: two runs give identical batches and states`, async () => {
    const a = await take(loader({ packing, bufferSize: 20 }), 12);
    const b = await take(loader({ packing, bufferSize: 20 }), 12);
    same(a, b);
    assertEquals(a.map((x) => x.state), b.map((x) => x.state));
  });
}

Deno.test("state refuses a different configuration", () => {
  const state: LoaderState = {
    version: 1,
    split: "train",
    packing: "stream",
    rank: 0,
    worldSize: 1,
    epoch: 1,
    rowGroup: 0,
    doc: 3,
    tokenOffset: 2,
    buffer: [],
    stats: { batches: 1, tokens: 1, wholeDocs: 0, croppedDocs: 0, croppedTokens: 0 },
  };
  loader({ packing: "stream", resumeState: state }).close();
  assertThrows(() => loader({ packing: "bestfit", resumeState: state }), UserError, "stream packing");
  assertThrows(
    () => loader({ packing: "stream", split: "val", resumeState: state }),
    UserError,
    "train split",
  );
  assertThrows(
    () => loader({ packing: "stream", rank: 1, worldSize: 2, resumeState: state }),
    UserError,
    "rank",
  );
  assertThrows(
    () => loader({ packing: "stream", resumeState: { ...state, rowGroup: 1, rank: 0, worldSize: 2 } }),
    UserError,
  );
});

Deno.test("a state pointing past the data is a UserError on the first batch", async () => {
  const l = loader({ packing: "stream" });
  const [b] = await take(l, 1);
  l.close();
  const resumed = loader({ packing: "stream", resumeState: { ...b.state, rowGroup: 99 } });
  await assertRejects(() => resumed.next(), UserError, "row group 99");
  const bf = loader({ packing: "bestfit", bufferSize: 10 });
  const [c] = await take(bf, 1);
  bf.close();
  const bad = { ...c.state, buffer: [[0, [500]]] as [number, number[]][] };
  await assertRejects(
    () => loader({ packing: "bestfit", bufferSize: 10, resumeState: bad }).next(),
    UserError,
    "500",
  );
});

// ---------------------------------------------------------------------------------------------
// validation

Deno.test("bad options are UserErrors", async () => {
  assertThrows(() => loader({ B: 0 }), UserError, "B");
  assertThrows(() => loader({ T: 1.5 }), UserError, "T");
  assertThrows(() => loader({ T: -4 }), UserError, "T");
  assertThrows(() => loader({ rank: 2, worldSize: 2 }), UserError, "rank");
  assertThrows(() => loader({ rank: -1 }), UserError, "rank");
  assertThrows(() => loader({ worldSize: 0 }), UserError, "worldSize");
  assertThrows(() => loader({ packing: "greedy" as "stream" }), UserError, "packing");
  assertThrows(() => loader({ bufferSize: 0 }), UserError, "bufferSize");
  assertThrows(() => loader({ tokenizerBatchSize: 0 }), UserError, "tokenizerBatchSize");
  // a rank with no row group, an empty folder, a missing folder
  await assertRejects(
    () => loader({ rank: 12, worldSize: 13 }).next(),
    UserError,
    "no row group for rank 12",
  );
  const empty = await Deno.makeTempDir();
  try {
    await assertRejects(() => loader({ dataDir: empty }).next(), UserError, "no shards");
    await assertRejects(() => loader({ dataDir: join(empty, "nope") }).next(), UserError, "does not exist");
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("val: loops by default, and ends after one pass with loop: false", async () => {
  const seen: number[] = [];
  const l = loader({ split: "val", packing: "stream", B: 1, T: 8, onRowGroup: (i) => seen.push(i.epoch) });
  await take(l, 200);
  l.close();
  assert(seen.at(-1)! > 1, "the val loader looped");
  let n = 0;
  for await (
    const _ of loader({ split: "val", packing: "bestfit", B: 1, T: 8, bufferSize: 4, loop: false })
  ) n++;
  assert(n > 0 && n < 200);
});

// ---------------------------------------------------------------------------------------------
// the shared corpus (skipped when ../shared is absent)

const SHARED = sharedPretrainDir();

Deno.test({
  name: "shared shards: bestfit with the default buffer resumes exactly and keeps the state small",
  ignore: SHARED === null,
  async fn() {
    const dir = SHARED!;
    const sample: string[] = [];
    for await (const rg of iterRowGroups("val", { dataDir: dir })) sample.push(...rg.texts.slice(0, 200));
    const tok = await Tokenizer.train(sample, { vocabSize: 512 });
    const opts: PretrainLoaderOptions = { split: "train", B: 4, T: 256, tokenizer: tok, dataDir: dir };
    const full = await take(new PretrainLoader(opts), 6);
    for (const b of full) {
      for (let r = 0; r < 4; r++) assertEquals(b.inputs[r * 256], tok.bosId);
    }
    const state = JSON.parse(JSON.stringify(full[2].state)) as LoaderState;
    assert(JSON.stringify(state).length < 20_000, "the state stays small");
    assertEquals(state.buffer.reduce((n, [, ds]) => n + ds.length, 0) >= 1000 - 8, true);
    const resumed = new PretrainLoader({ ...opts, resumeState: state });
    same(await take(resumed, 3), full.slice(3, 6));
    resumed.close();
  },
});
