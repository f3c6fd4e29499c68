// Tests of reading pretraining shards: counts from the shared corpus, splits, rank striding,
// tokenizer training text limits, clear errors for bad files, and the `data info` command.
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { basename, join } from "node:path";
import { parquetWriteBuffer } from "hyparquet-writer";
import { UserError } from "../src/common/errors.ts";
import { runCliCaptured, sharedPretrainDir } from "./helpers.ts";
import {
  codePointLength,
  cropCodePoints,
  iterRowGroups,
  iterTrainingText,
  listShards,
  listSplit,
  ParquetShard,
  type RowGroupBatch,
  shardFileName,
  shardStats,
  withShard,
} from "../src/data/mod.ts";

const SHARED_OR_NULL = sharedPretrainDir();
const SHARED = SHARED_OR_NULL ?? "";
const noShared = SHARED_OR_NULL === null;

/** Writes a snappy parquet file with one string column, `rowGroupSize` rows per group. */
function writeParquet(path: string, texts: string[], rowGroupSize: number, column = "text"): void {
  const buffer = parquetWriteBuffer({
    columnData: [{ name: column, data: texts, type: "STRING" }],
    rowGroupSize,
  });
  Deno.writeFileSync(path, new Uint8Array(buffer));
}

/** A data dir with 3 train shards (4, 3 and 2 row groups of up to 3 rows) and a val shard. */
async function makeFixtureDir(): Promise<{ dir: string; train: string[][]; val: string[] }> {
  const dir = await Deno.makeTempDir({ prefix: "nanochat_data_" });
  const train: string[][] = [];
  const sizes = [10, 7, 5];
  let k = 0;
  for (const [s, rows] of sizes.entries()) {
    const texts = Array.from({ length: rows }, () => `doc${k++} ` + "x".repeat(k));
    train.push(texts);
    writeParquet(join(dir, shardFileName(s)), texts, 3);
  }
  const val = ["val one", "val two"];
  writeParquet(join(dir, shardFileName(3)), val, 3);
  return { dir, train, val };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const key = (b: RowGroupBatch) => `${b.shardIndex}:${b.rowGroupIndex}`;

// ---------------------------------------------------------------------------------------------
// The shared corpus (skipped when ../shared is absent)

Deno.test({
  name: "shared shards: rows, row groups and characters match DATA.md",
  ignore: noShared,
  async fn() {
    const paths = await listShards(SHARED);
    assertEquals(paths.map((p) => basename(p)), [0, 1, 2].map(shardFileName));
    const stats = [];
    for (const p of paths) stats.push(await shardStats(p));
    assertEquals(stats.map((s) => s.rows), [2048, 1752, 420]);
    assertEquals(stats.map((s) => s.rowGroups), [2, 2, 1]);
    assertEquals(stats.map((s) => s.chars), [5_805_048, 4_954_049, 1_206_406]);
    const groups = await withShard(paths[1], (s) => Promise.resolve([s.rowGroupRows(0), s.rowGroupRows(1)]));
    assertEquals(groups, [1024, 728]);
  },
});

Deno.test({
  name: "shared shards: the last shard is val, the others train",
  ignore: noShared,
  async fn() {
    assertEquals((await listSplit(SHARED, "train")).map((p) => basename(p)), [0, 1].map(shardFileName));
    assertEquals((await listSplit(SHARED, "val")).map((p) => basename(p)), [shardFileName(2)]);
    const train = await collect(iterRowGroups("train", { dataDir: SHARED }));
    assertEquals(train.map(key), ["0:0", "0:1", "1:0", "1:1"]);
    assertEquals(train.map((b) => b.texts.length), [1024, 1024, 1024, 728]);
    const val = await collect(iterRowGroups("val", { dataDir: SHARED }));
    assertEquals(val.map(key), ["0:0"]);
    assertEquals(val[0].texts.length, 420);
    assert(val[0].texts.every((t) => typeof t === "string" && t.length > 0));
  },
});

Deno.test({
  name: "shared shards: 3 ranks split the 4 train row groups, each exactly once",
  ignore: noShared,
  async fn() {
    const seen: string[] = [];
    for (let rank = 0; rank < 3; rank++) {
      for await (const b of iterRowGroups("train", { dataDir: SHARED, start: rank, step: 3 })) {
        seen.push(key(b));
      }
    }
    assertEquals(seen.sort(), ["0:0", "0:1", "1:0", "1:1"]);
  },
});

Deno.test({
  name: "shared shards: training text honors maxChars and docCap",
  ignore: noShared,
  async fn() {
    const docs = await collect(iterTrainingText({ dataDir: SHARED, maxChars: 1_000_000, docCap: 1000 }));
    const lengths = docs.map(codePointLength);
    assert(lengths.every((n) => n <= 1000));
    assert(lengths.some((n) => n === 1000), "long documents are cropped to exactly docCap");
    const total = lengths.reduce((a, b) => a + b, 0);
    assert(total > 1_000_000 && total - lengths.at(-1)! <= 1_000_000, `total ${total}`);
  },
});

Deno.test({
  name: "a truncated copy of a real shard is a clear error",
  ignore: noShared,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const bytes = await Deno.readFile(join(SHARED, "shard_00000.parquet"));
      const path = join(dir, "shard_00000.parquet");
      await Deno.writeFile(path, bytes.subarray(0, Math.floor(bytes.length / 2)));
      const err = await assertRejects(() => ParquetShard.open(path), UserError);
      assertStringIncludes(err.message, path);
      assertStringIncludes(err.message, "truncated");
      assertStringIncludes(err.message, "nanochat data download");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "cli: data info on the shared shards prints per-shard and per-split counts",
  ignore: noShared,
  async fn() {
    const { code, out } = await runCliCaptured(["data", "info", "--data-dir", SHARED]);
    assertEquals(code, 0, out);
    const line = (start: string) => out.split("\n").find((l) => l.startsWith(start))?.split(/\s{2,}/);
    assertEquals(line("shard_00000.parquet")?.slice(0, 5), [
      "shard_00000.parquet",
      "train",
      "2,048",
      "2",
      "5,805,048",
    ]);
    assertEquals(line("shard_00001.parquet")?.slice(0, 5), [
      "shard_00001.parquet",
      "train",
      "1,752",
      "2",
      "4,954,049",
    ]);
    assertEquals(line("shard_00002.parquet")?.slice(0, 5), [
      "shard_00002.parquet",
      "val",
      "420",
      "1",
      "1,206,406",
    ]);
    assertEquals(line("train total")?.slice(0, 5), [
      "train total (2 shards)",
      "train",
      "3,800",
      "4",
      "10,759,097",
    ]);
    assertEquals(line("val total")?.slice(0, 5), ["val total (1 shard)", "val", "420", "1", "1,206,406"]);
    assertStringIncludes(line("shard_00000.parquet")![5], "MB");
  },
});

// ---------------------------------------------------------------------------------------------
// Generated fixtures (always run)

Deno.test("fixture: iterRowGroups reads every train row group in order, never the val shard", async () => {
  const { dir, train, val } = await makeFixtureDir();
  try {
    const batches = await collect(iterRowGroups("train", { dataDir: dir }));
    assertEquals(batches.map(key), ["0:0", "0:1", "0:2", "0:3", "1:0", "1:1", "1:2", "2:0", "2:1"]);
    assertEquals(batches.map((b) => b.globalRowGroupIndex), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assertEquals(batches.flatMap((b) => b.texts), train.flat());
    const valBatches = await collect(iterRowGroups("val", { dataDir: dir }));
    assertEquals(valBatches.flatMap((b) => b.texts), val);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fixture: rank striding covers every row group exactly once, in both stride modes", async () => {
  const { dir } = await makeFixtureDir();
  try {
    const all = (await collect(iterRowGroups("train", { dataDir: dir }))).map(key);
    for (const stride of ["global", "per-shard"] as const) {
      for (let world = 1; world <= 6; world++) {
        const seen: string[] = [];
        for (let rank = 0; rank < world; rank++) {
          const mine = await collect(
            iterRowGroups("train", { dataDir: dir, start: rank, step: world, stride }),
          );
          if (stride === "global") {
            // rank r takes global row groups r, r+world, r+2*world, ...
            assertEquals(mine.map((b) => b.globalRowGroupIndex), range(rank, all.length, world));
          } else {
            assert(
              mine.every((b) => b.rowGroupIndex % world === rank),
              `${stride} world=${world} rank=${rank}`,
            );
          }
          seen.push(...mine.map(key));
        }
        assertEquals(seen.length, all.length, `${stride} world=${world}: no row group twice`);
        assertEquals(seen.sort(), [...all].sort(), `${stride} world=${world}: every row group once`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fixture: iterTrainingText yields the doc that crosses maxChars, then stops", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // lengths 5, 10, 3, 8 then the val shard, which must never be read
    writeParquet(join(dir, shardFileName(0)), ["aaaaa", "bbbbbbbbbb"], 1);
    writeParquet(join(dir, shardFileName(1)), ["ccc", "dddddddd"], 1);
    writeParquet(join(dir, shardFileName(2)), ["VALIDATION"], 1);
    const run = (maxChars: number, docCap: number) =>
      collect(iterTrainingText({ dataDir: dir, maxChars, docCap }));
    assertEquals(await run(4, 100), ["aaaaa"]);
    assertEquals(await run(14, 100), ["aaaaa", "bbbbbbbbbb"]);
    assertEquals(await run(15, 100), ["aaaaa", "bbbbbbbbbb", "ccc"]);
    assertEquals(await run(1e9, 100), ["aaaaa", "bbbbbbbbbb", "ccc", "dddddddd"]);
    assertEquals(await run(1e9, 4), ["aaaa", "bbbb", "ccc", "dddd"]);
    // cropped lengths count toward the limit: 4 + 4 + 3 = 11 > 10
    assertEquals(await run(10, 4), ["aaaa", "bbbb", "ccc"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("characters are code points, as Python counts them", async () => {
  assertEquals(codePointLength("h\u00e9llo"), 5);
  assertEquals(codePointLength("\u{1F600}\u{1F600}a"), 3);
  assertEquals(cropCodePoints("\u{1F600}\u{1F600}\u{1F600}", 2), "\u{1F600}\u{1F600}");
  assertEquals(cropCodePoints("ab\u{1F600}cd", 3), "ab\u{1F600}");
  assertEquals(cropCodePoints("abc", 5), "abc");
  const dir = await Deno.makeTempDir();
  try {
    writeParquet(join(dir, shardFileName(0)), ["\u{1F600}".repeat(6), "zz"], 1);
    writeParquet(join(dir, shardFileName(1)), ["val"], 1);
    const docs = await collect(iterTrainingText({ dataDir: dir, maxChars: 6, docCap: 4 }));
    // 4 emoji (8 UTF-16 units) count as 4 characters, so the second doc is still yielded: 4 + 2 = 6
    assertEquals(docs, ["\u{1F600}".repeat(4), "zz"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad data: empty or missing folders, single shard, junk, truncation, no text column", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await t.step("empty folder", async () => {
      const err = await assertRejects(() => listShards(dir), UserError);
      assertStringIncludes(err.message, dir);
      assertStringIncludes(err.message, "nanochat data download");
      assertStringIncludes(err.message, "--data-dir");
    });

    await t.step("missing folder", async () => {
      const missing = join(dir, "nope");
      const err = await assertRejects(() => collect(iterRowGroups("train", { dataDir: missing })), UserError);
      assertStringIncludes(err.message, missing);
      assertStringIncludes(err.message, "does not exist");
    });

    await t.step("other files and .tmp downloads are not shards", async () => {
      await Deno.writeTextFile(join(dir, "notes.txt"), "hi");
      await Deno.writeTextFile(join(dir, "shard_00000.parquet.tmp"), "partial");
      await assertRejects(() => listShards(dir), UserError, "no shards");
    });

    const path = join(dir, shardFileName(0));
    await t.step("a single shard has no training split", async () => {
      writeParquet(path, ["only"], 10);
      const err = await assertRejects(() =>
        collect(iterTrainingText({ dataDir: dir, maxChars: 10, docCap: 10 }))
      );
      assert(err instanceof UserError);
      assertStringIncludes(err.message, "only one shard");
      assertEquals((await collect(iterRowGroups("val", { dataDir: dir })))[0].texts, ["only"]);
    });

    await t.step("random bytes", async () => {
      await Deno.writeFile(path, crypto.getRandomValues(new Uint8Array(5000)));
      const err = await assertRejects(() => ParquetShard.open(path), UserError);
      assertStringIncludes(err.message, path);
      assertStringIncludes(err.message, "not a parquet file");
    });

    await t.step("a file of a few bytes", async () => {
      await Deno.writeTextFile(path, "PAR1");
      const err = await assertRejects(() => ParquetShard.open(path), UserError);
      assertStringIncludes(err.message, "not a parquet file");
    });

    await t.step("truncated generated shard", async () => {
      writeParquet(path, Array.from({ length: 50 }, (_, i) => `document ${i}`), 10);
      const bytes = await Deno.readFile(path);
      await Deno.writeFile(path, bytes.subarray(0, bytes.length - 100));
      const err = await assertRejects(() => ParquetShard.open(path), UserError);
      assertStringIncludes(err.message, path);
      assertStringIncludes(err.message, "truncated");
    });

    await t.step("PAR1 at both ends but a garbage footer", async () => {
      const bytes = new Uint8Array(64);
      bytes.set([0x50, 0x41, 0x52, 0x31], 0);
      bytes.set([0xff, 0xff, 0x00, 0x00, 0x50, 0x41, 0x52, 0x31], 56);
      await Deno.writeFile(path, bytes);
      const err = await assertRejects(() => ParquetShard.open(path), UserError);
      assertStringIncludes(err.message, path);
      assertStringIncludes(err.message, "corrupt");
    });

    await t.step("no text column", async () => {
      writeParquet(path, ["a", "b"], 10, "content");
      const err = await assertRejects(() => ParquetShard.open(path), UserError);
      assertStringIncludes(err.message, path);
      assertStringIncludes(err.message, "no `text` column");
      assertStringIncludes(err.message, "content");
    });

    await t.step("damaged row group data", async () => {
      writeParquet(path, Array.from({ length: 30 }, (_, i) => `document number ${i}`), 10);
      const start = await withShard(path, (s) => {
        const meta = s.metadata.row_groups[1].columns[0].meta_data!;
        return Promise.resolve(Number(meta.dictionary_page_offset ?? meta.data_page_offset));
      });
      const bytes = await Deno.readFile(path);
      bytes.fill(0xff, start, start + 24); // wipe the page header of row group 1
      await Deno.writeFile(path, bytes);
      await withShard(path, async (shard) => {
        assertEquals((await shard.readRowGroup(0)).length, 10);
        const err = await assertRejects(() => shard.readRowGroup(1), UserError);
        assertStringIncludes(err.message, "row group 1");
        assertStringIncludes(err.message, path);
      });
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: data info on an empty folder fails with an actionable message", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { code, err } = await runCliCaptured(["data", "info", "--data-dir", dir]);
    assertEquals(code, 1);
    assertStringIncludes(err, dir);
    assertStringIncludes(err, "nanochat data download");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: data info on generated shards", async () => {
  const { dir } = await makeFixtureDir();
  try {
    const { code, out } = await runCliCaptured(["data", "info", "--data-dir", dir]);
    assertEquals(code, 0, out);
    assert(/^shard_00003\.parquet\s+val\s+2\s+1\s+14\s/m.test(out), out);
    const total = out.split("\n").find((l) => l.startsWith("train total"))?.split(/\s{2,}/);
    assertEquals(total?.slice(0, 4), ["train total (3 shards)", "train", "22", "9"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function range(start: number, end: number, step: number): number[] {
  const out = [];
  for (let i = start; i < end; i += step) out.push(i);
  return out;
}
