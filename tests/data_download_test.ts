// Tests of shard downloading against a local HTTP server: parallel downloads, retries, stalls,
// truncated bodies, Range resume, permanent failures, skipping, and the `data download` command.
import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { join } from "node:path";
import { UserError } from "../src/common/errors.ts";
import { runCliCaptured, withTempDir } from "./helpers.ts";
import {
  DATA_URL_ENV,
  DATASETS,
  downloadShards,
  type DownloadSummary,
  isCompleteParquet,
  resolveBaseUrl,
  shardFileName,
  shardIndices,
} from "../src/data/mod.ts";

/** Asserts the file at `path` holds exactly `expected`. */
async function assertSameFile(path: string, expected: Uint8Array): Promise<void> {
  const actual = await Deno.readFile(path);
  assertEquals(actual.length, expected.length, `${path}: size`);
  assert(actual.every((b, i) => b === expected[i]), `${path}: contents differ`);
}

/** Bytes that pass the downloader's parquet check: PAR1, random payload, PAR1. */
function fakeShard(size: number): Bytes {
  const bytes = new Uint8Array(size);
  for (let off = 4; off < size - 4; off += 65536) {
    crypto.getRandomValues(bytes.subarray(off, Math.min(off + 65536, size - 4)));
  }
  bytes.set([0x50, 0x41, 0x52, 0x31], 0);
  bytes.set([0x50, 0x41, 0x52, 0x31], size - 4);
  return bytes;
}

/** Bytes backed by a plain ArrayBuffer, which Response bodies accept. */
type Bytes = Uint8Array<ArrayBuffer>;

interface Hit {
  name: string;
  range: string | null;
}

/** A local server over `files` (name → bytes); `handler` may answer first, else the file is served with Range support. */
function startServer(
  files: Map<string, Bytes>,
  handler?: (name: string, req: Request, hitNumber: number) => Response | Promise<Response> | undefined,
) {
  const hits: Hit[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const name = new URL(req.url).pathname.split("/").pop()!;
    hits.push({ name, range: req.headers.get("range") });
    const custom = await handler?.(name, req, hits.filter((h) => h.name === name).length);
    if (custom) return custom;
    return serveBytes(files.get(name), req);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/data`,
    hits,
    hitsFor: (name: string) => hits.filter((h) => h.name === name),
    close: () => server.shutdown(),
  };
}

/** Serves `bytes`, honoring `Range: bytes=N-` with a 206 unless `ranges` is false. */
function serveBytes(bytes: Bytes | undefined, req: Request, ranges = true): Response {
  if (!bytes) return new Response("not found", { status: 404 });
  const range = req.headers.get("range")?.match(/^bytes=(\d+)-$/);
  if (ranges && range) {
    const start = Number(range[1]);
    if (start >= bytes.length) return new Response(null, { status: 416 });
    return new Response(bytes.slice(start), {
      status: 206,
      headers: { "content-range": `bytes ${start}-${bytes.length - 1}/${bytes.length}` },
    });
  }
  return new Response(bytes);
}

/** A body that sends `bytes` in `chunks` pieces with a pause between them. */
function slowBody(bytes: Bytes, chunks: number, pauseMs: number): ReadableStream<Uint8Array> {
  let i = 0;
  const size = Math.ceil(bytes.length / chunks);
  const cancelled = new AbortController(); // the client went away: stop pausing
  return new ReadableStream({
    async pull(controller) {
      if (i > 0) await sleep(pauseMs, cancelled.signal);
      if (cancelled.signal.aborted) return;
      controller.enqueue(bytes.slice(i * size, (i + 1) * size));
      if (++i >= chunks) controller.close();
    },
    cancel: () => cancelled.abort(),
  });
}

/** A body that sends `head`, then nothing until the client gives up (or 10 s pass). */
function stallingBody(head: Bytes): ReadableStream<Uint8Array> {
  const cancelled = new AbortController();
  return new ReadableStream({
    async start(controller) {
      controller.enqueue(head);
      await sleep(10_000, cancelled.signal);
      if (!cancelled.signal.aborted) controller.close();
    },
    cancel: () => cancelled.abort(),
  });
}

/** Resolves after `ms`, or at once when `signal` aborts (so no timer outlives a test). */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

/** Fast settings for tests: tiny backoff, short stall timeout, no output. */
const FAST = { backoffMs: () => 10, stallTimeoutMs: 2000, quiet: true } as const;

function sourceFiles(count: number, size: number): Map<string, Bytes> {
  return new Map(Array.from({ length: count }, (_, i) => [shardFileName(i), fakeShard(size + i * 1111)]));
}

// ---------------------------------------------------------------------------------------------

Deno.test("download: several files in parallel, byte-identical to the source", async () => {
  const files = sourceFiles(6, 300_000);
  let active = 0;
  let maxActive = 0;
  const server = startServer(files, (name) => {
    active++;
    maxActive = Math.max(maxActive, active);
    const body = slowBody(files.get(name)!, 5, 10);
    // count the request as finished when its body has been sent
    const tracked = body.pipeThrough(new TransformStream({ flush: () => void active-- }));
    return new Response(tracked, { headers: { "content-length": String(files.get(name)!.length) } });
  });
  try {
    await withTempDir(async (dir) => {
      const summary = await downloadShards({
        dataDir: dir,
        numFiles: 6,
        workers: 3,
        baseUrl: server.url,
        ...FAST,
      });
      assertEquals(summary, { downloaded: [...files.keys()], skipped: [], failed: [] });
      for (const [name, bytes] of files) await assertSameFile(join(dir, name), bytes);
      assertEquals(await listDir(dir), [...files.keys()], "no .tmp files left");
      assert(
        maxActive >= 2 && maxActive <= 3,
        `downloads ran in parallel within the worker limit (${maxActive})`,
      );
      assertEquals(server.hits.length, 6);
    });
  } finally {
    await server.close();
  }
});

Deno.test("download: two 500s, then success after backoff", async () => {
  const files = sourceFiles(1, 50_000);
  const server = startServer(
    files,
    (_name, _req, n) => n <= 2 ? new Response("boom", { status: 500 }) : undefined,
  );
  const waits: number[] = [];
  try {
    await withTempDir(async (dir) => {
      const summary = await downloadShards({
        dataDir: dir,
        numFiles: 1,
        baseUrl: server.url,
        ...FAST,
        backoffMs: (attempt) => (waits.push(attempt), 5),
      });
      assertEquals(summary.downloaded, ["shard_00000.parquet"]);
      assertEquals(server.hits.length, 3);
      assertEquals(waits, [1, 2], "backoff is asked for attempts 1 and 2");
      await assertSameFile(join(dir, "shard_00000.parquet"), files.get("shard_00000.parquet")!);
    });
  } finally {
    await server.close();
  }
});

Deno.test("download: a stalled body hits the stall timeout and the retry resumes", async () => {
  const files = sourceFiles(1, 200_000);
  const bytes = files.get("shard_00000.parquet")!;
  const server = startServer(files, (_name, _req, n) => {
    if (n > 1) return undefined;
    // send 60 KB, then nothing until the client gives up
    const body = stallingBody(bytes.slice(0, 60_000));
    return new Response(body, { headers: { "content-length": String(bytes.length) } });
  });
  try {
    await withTempDir(async (dir) => {
      const t0 = performance.now();
      const summary = await downloadShards({
        dataDir: dir,
        numFiles: 1,
        baseUrl: server.url,
        ...FAST,
        stallTimeoutMs: 300,
      });
      const elapsed = performance.now() - t0;
      assertEquals(summary.downloaded, ["shard_00000.parquet"]);
      assert(elapsed < 5000, `the stall was cut short (${elapsed} ms)`);
      assertEquals(server.hits.map((h) => h.range), [null, "bytes=60000-"]);
      await assertSameFile(join(dir, "shard_00000.parquet"), bytes);
    });
  } finally {
    await server.close();
  }
});

Deno.test("download: a body shorter than Content-Length is retried and the file ends up correct", async () => {
  const files = sourceFiles(1, 120_000);
  const bytes = files.get("shard_00000.parquet")!;
  const server = startServer(files, (_name, _req, n) => {
    if (n > 2) return undefined;
    // announce the full size, send a third, close the connection
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, 40_000 * n));
        controller.close();
      },
    });
    return new Response(body, { headers: { "content-length": String(bytes.length) } });
  });
  try {
    await withTempDir(async (dir) => {
      const summary = await downloadShards({ dataDir: dir, numFiles: 1, baseUrl: server.url, ...FAST });
      assertEquals(summary.downloaded, ["shard_00000.parquet"]);
      assertEquals(server.hits.length, 3);
      assertEquals(server.hits[0].range, null);
      await assertSameFile(join(dir, "shard_00000.parquet"), bytes);
      assertEquals(await listDir(dir), ["shard_00000.parquet"]);
    });
  } finally {
    await server.close();
  }
});

Deno.test("download: a partial .tmp is resumed with a Range request", async () => {
  const files = sourceFiles(1, 100_000);
  const bytes = files.get("shard_00000.parquet")!;
  let served = 0;
  const server = startServer(files, (_name, req) => {
    const res = serveBytes(bytes, req);
    served += Number(res.headers.get("content-length") ?? (bytes.length - 12_345));
    return res;
  });
  try {
    await withTempDir(async (dir) => {
      await Deno.writeFile(join(dir, "shard_00000.parquet.tmp"), bytes.slice(0, 12_345));
      const summary = await downloadShards({ dataDir: dir, numFiles: 1, baseUrl: server.url, ...FAST });
      assertEquals(summary.downloaded, ["shard_00000.parquet"]);
      assertEquals(server.hits.map((h) => h.range), ["bytes=12345-"]);
      assertEquals(served, bytes.length - 12_345, "only the missing bytes were sent");
      await assertSameFile(join(dir, "shard_00000.parquet"), bytes);
      assertEquals(await listDir(dir), ["shard_00000.parquet"]);
    });
  } finally {
    await server.close();
  }
});

Deno.test("download: a 206 body that ends cleanly but short keeps its bytes and resumes after them", async () => {
  const files = sourceFiles(1, 90_000);
  const bytes = files.get("shard_00000.parquet")!;
  const server = startServer(files, (_name, _req, n) => {
    if (n > 1) return undefined;
    // a chunked body (no Content-Length) that stops at 30,000 although Content-Range promises the rest
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(1000, 30_000));
        controller.close();
      },
    });
    const headers = { "content-range": `bytes 1000-${bytes.length - 1}/${bytes.length}` };
    return new Response(body, { status: 206, headers });
  });
  try {
    await withTempDir(async (dir) => {
      await Deno.writeFile(join(dir, "shard_00000.parquet.tmp"), bytes.slice(0, 1000));
      const summary = await downloadShards({ dataDir: dir, numFiles: 1, baseUrl: server.url, ...FAST });
      assertEquals(summary.downloaded, ["shard_00000.parquet"]);
      assertEquals(server.hits.map((h) => h.range), ["bytes=1000-", "bytes=30000-"]);
      await assertSameFile(join(dir, "shard_00000.parquet"), bytes);
    });
  } finally {
    await server.close();
  }
});

Deno.test("download: a server that ignores Range (200) restarts the file from scratch", async () => {
  const files = sourceFiles(1, 80_000);
  const bytes = files.get("shard_00000.parquet")!;
  const server = startServer(files, (_name, req) => serveBytes(bytes, req, false));
  try {
    await withTempDir(async (dir) => {
      // a stale prefix that is not even from this file: it must not survive
      await Deno.writeFile(join(dir, "shard_00000.parquet.tmp"), new Uint8Array(5000).fill(7));
      const summary = await downloadShards({ dataDir: dir, numFiles: 1, baseUrl: server.url, ...FAST });
      assertEquals(summary.downloaded, ["shard_00000.parquet"]);
      assertEquals(server.hits.map((h) => h.range), ["bytes=5000-"]);
      await assertSameFile(join(dir, "shard_00000.parquet"), bytes);
    });
  } finally {
    await server.close();
  }
});

Deno.test("download: permanent failures are reported and leave no file behind", async (t) => {
  const files = sourceFiles(3, 30_000);
  files.delete("shard_00001.parquet"); // → 404
  const server = startServer(files, (name) => {
    if (name === "shard_00002.parquet") return new Response("down", { status: 500 });
    if (name === "shard_00003.parquet") return new Response("<html>not parquet</html>"); // 200, wrong content
    return undefined;
  });
  try {
    await withTempDir(async (dir) => {
      // a leftover partial download of a file that will fail must be cleaned up too
      await Deno.writeFile(join(dir, "shard_00002.parquet.tmp"), new Uint8Array(100));
      const summary = await downloadShards({
        dataDir: dir,
        numFiles: 4,
        workers: 2,
        baseUrl: server.url,
        maxAttempts: 3,
        ...FAST,
      });
      await t.step("summary", () => {
        assertEquals(summary.downloaded, ["shard_00000.parquet"]);
        assertEquals(summary.failed.map((f) => f.name), [1, 2, 3].map(shardFileName));
        assertStringIncludes(summary.failed[0].error, "404");
        assertStringIncludes(summary.failed[1].error, "500");
        assertStringIncludes(summary.failed[2].error, "PAR1");
      });
      await t.step("retries: none for 404, all attempts for 500 and bad content", () => {
        assertEquals(server.hitsFor("shard_00001.parquet").length, 1);
        assertEquals(server.hitsFor("shard_00002.parquet").length, 3);
        assertEquals(server.hitsFor("shard_00003.parquet").length, 3);
      });
      await t.step("no final file and no .tmp for the failures", async () => {
        assertEquals(await listDir(dir), ["shard_00000.parquet"]);
      });
    });
  } finally {
    await server.close();
  }
});

Deno.test("download: complete files are skipped without asking the server; incomplete ones are fetched", async () => {
  const files = sourceFiles(3, 20_000);
  const server = startServer(files);
  try {
    await withTempDir(async (dir) => {
      await Deno.writeFile(join(dir, "shard_00000.parquet"), files.get("shard_00000.parquet")!);
      await Deno.writeFile(join(dir, "shard_00001.parquet"), files.get("shard_00001.parquet")!);
      // present but broken (no PAR1 at the end): must be downloaded again
      await Deno.writeFile(join(dir, "shard_00002.parquet"), files.get("shard_00002.parquet")!.slice(0, 500));
      const summary: DownloadSummary = await downloadShards({
        dataDir: dir,
        numFiles: 3,
        baseUrl: server.url,
        ...FAST,
      });
      assertEquals(summary.skipped, ["shard_00000.parquet", "shard_00001.parquet"]);
      assertEquals(summary.downloaded, ["shard_00002.parquet"]);
      assertEquals(server.hits.map((h) => h.name), ["shard_00002.parquet"]);
      await assertSameFile(join(dir, "shard_00002.parquet"), files.get("shard_00002.parquet")!);
    });
  } finally {
    await server.close();
  }
});

Deno.test("isCompleteParquet checks size and the magic at both ends", async () => {
  await withTempDir(async (dir) => {
    const p = join(dir, "f.parquet");
    assertEquals(await isCompleteParquet(p), false);
    await Deno.writeFile(p, new Uint8Array(0));
    assertEquals(await isCompleteParquet(p), false);
    await Deno.writeFile(p, fakeShard(100));
    assertEquals(await isCompleteParquet(p), true);
    await Deno.writeFile(p, fakeShard(100).slice(0, 99));
    assertEquals(await isCompleteParquet(p), false);
  });
});

Deno.test("shard lists and URLs of the two datasets", () => {
  assertEquals(shardIndices("fineweb-edu", 3), [0, 1, 2]);
  assertEquals(shardIndices("fineweb-edu", -1).length, 1823);
  assertEquals(shardIndices("fineweb-edu", 5000).length, 1823);
  assertEquals(shardIndices("climbmix", 2), [0, 1, 6542]);
  assertEquals(shardIndices("climbmix", 0), [6542]);
  const all = shardIndices("climbmix", -1);
  assertEquals([all.length, all.at(-2), all.at(-1)], [6543, 6541, 6542]);
  assertThrows(() => shardIndices("fineweb-edu", -2), UserError);
  assertEquals(shardFileName(7), "shard_00007.parquet");
  assertEquals(resolveBaseUrl("climbmix", "http://x/y/"), "http://x/y");
  const saved = Deno.env.get(DATA_URL_ENV);
  try {
    Deno.env.delete(DATA_URL_ENV);
    assertEquals(resolveBaseUrl("fineweb-edu"), DATASETS["fineweb-edu"].baseUrl);
    Deno.env.set(DATA_URL_ENV, "http://mirror.local/shards");
    assertEquals(resolveBaseUrl("fineweb-edu"), "http://mirror.local/shards");
    assertEquals(resolveBaseUrl("fineweb-edu", "http://flag"), "http://flag");
  } finally {
    if (saved === undefined) Deno.env.delete(DATA_URL_ENV);
    else Deno.env.set(DATA_URL_ENV, saved);
  }
});

// ---------------------------------------------------------------------------------------------
// The CLI

Deno.test("cli: data download fetches shards from --url into --data-dir", async () => {
  const files = sourceFiles(2, 10_000);
  files.set("shard_06542.parquet", fakeShard(9_000));
  const server = startServer(files);
  try {
    await withTempDir(async (dir) => {
      const res = await runCliCaptured([
        "data",
        "download",
        "-n",
        "2",
        "-w",
        "2",
        "--url",
        server.url,
        "--data-dir",
        dir,
      ]);
      assertEquals(res.code, 0, res.err);
      assertStringIncludes(res.out, "2 downloaded, 0 already present, 0 failed");
      assertEquals(await listDir(dir), ["shard_00000.parquet", "shard_00001.parquet"]);

      // climbmix also fetches its pinned validation shard; the existing shard 0 is skipped
      const again = await runCliCaptured([
        "data",
        "download",
        "-n",
        "1",
        "--dataset",
        "climbmix",
        "--url",
        server.url,
        "--data-dir",
        dir,
      ]);
      assertEquals(again.code, 0, again.err);
      assertStringIncludes(again.out, "1 downloaded, 1 already present, 0 failed");
      await assertSameFile(join(dir, "shard_06542.parquet"), files.get("shard_06542.parquet")!);
    });
  } finally {
    await server.close();
  }
});

Deno.test("cli: data download exits non-zero and names the shards that failed", async () => {
  const files = sourceFiles(1, 10_000); // shard 1 and 2 are missing → 404, which is not retried
  const server = startServer(files);
  try {
    await withTempDir(async (dir) => {
      const res = await runCliCaptured([
        "data",
        "download",
        "-n",
        "3",
        "--url",
        server.url,
        "--data-dir",
        dir,
      ]);
      assertEquals(res.code, 1);
      assertStringIncludes(res.err, "2 shards could not be downloaded");
      assertStringIncludes(res.err, "shard_00001.parquet: HTTP 404");
      assertStringIncludes(res.err, "shard_00002.parquet: HTTP 404");
      assertEquals(await listDir(dir), ["shard_00000.parquet"]);
    });
  } finally {
    await server.close();
  }
});

Deno.test("cli: data download rejects bad option values without a stack trace", async () => {
  await withTempDir(async (dir) => {
    for (const args of [["-n", "-2"], ["-n", "abc"], ["-w", "0"], ["--dataset", "wikipedia"]]) {
      const res = await runCliCaptured([
        "data",
        "download",
        ...args,
        "--url",
        "http://127.0.0.1:9",
        "--data-dir",
        dir,
      ]);
      assert(res.code !== 0, `${args.join(" ")} must fail`);
    }
    assertEquals(await listDir(dir), []);
  });
});
