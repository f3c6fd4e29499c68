// Downloading tasks from a Hugging Face-style parquet export served on 127.0.0.1: the listing API, nested
// columns (ARC's choices struct), the cache under <base>/task_data with its manifest written last, resuming a
// partial shard with a Range request, no network once cached, and failures that leave no manifest behind.
import { assert, assertEquals, assertRejects } from "@std/assert";
import { join } from "node:path";
import { parquetWriteBuffer } from "hyparquet-writer";
import { ARC, GSM8K, HUB_URL_ENV, hubCacheDir, numpyPermutation } from "../tasks/mod.ts";
import { UserError } from "../src/common/errors.ts";
import { withTempDir } from "./helpers.ts";

const utf8 = (name: string) => ({
  name,
  type: "BYTE_ARRAY" as const,
  converted_type: "UTF8" as const,
  repetition_type: "OPTIONAL" as const,
});

function gsmShard(from: number, to: number): Uint8Array<ArrayBuffer> {
  const ids = Array.from({ length: to - from }, (_, i) => from + i);
  return new Uint8Array(parquetWriteBuffer({
    columnData: [
      { name: "question", data: ids.map((i) => `question ${i}`), type: "STRING" },
      {
        name: "answer",
        data: ids.map((i) => `step <<${i}*2=${2 * i}>>${2 * i}\n#### ${2 * i}`),
        type: "STRING",
      },
    ],
  }));
}

function arcShard(): Uint8Array<ArrayBuffer> {
  return new Uint8Array(parquetWriteBuffer({
    columnData: [
      { name: "question", data: ["Which is a gas?", "Which is wet?"] },
      {
        name: "choices",
        data: [{ text: ["rock", "air", "ice"], label: ["1", "2", "3"] }, {
          text: ["water", "sand"],
          label: ["A", "B"],
        }],
      },
      { name: "answerKey", data: ["2", "A"] },
    ],
    schema: [
      { name: "root", num_children: 3 },
      utf8("question"),
      { name: "choices", repetition_type: "OPTIONAL", num_children: 2 },
      { name: "text", repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 },
      { name: "list", repetition_type: "REPEATED", num_children: 1 },
      utf8("element"),
      { name: "label", repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 },
      { name: "list", repetition_type: "REPEATED", num_children: 1 },
      utf8("element"),
      utf8("answerKey"),
    ],
  }));
}

interface Hub {
  url: string;
  requests: string[];
  /** Paths that answer 500. */
  failing: Set<string>;
  close: () => Promise<void>;
}

/** A tiny hub: /api/datasets/<repo>/parquet/<subset>/<split> lists /files/<repo>/<subset>/<split>/<i>.parquet. */
function serveHub(datasets: Record<string, Uint8Array<ArrayBuffer>[]>): Hub {
  const requests: string[] = [];
  const failing = new Set<string>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req): Response => {
    const path = new URL(req.url).pathname;
    const range = req.headers.get("range");
    requests.push(range ? `${path} ${range}` : path);
    if (failing.has(path)) return new Response("boom", { status: 500 });
    const list = /^\/api\/datasets\/(.+)\/parquet\/([^/]+)\/([^/]+)$/.exec(path);
    if (list) {
      const key = `${list[1]}/${list[2]}/${list[3]}`;
      const shards = datasets[key];
      if (!shards) return new Response("not found", { status: 404 });
      const base: string = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}/files/${key}`;
      return Response.json(shards.map((_, i) => `${base}/${i}.parquet`));
    }
    const file = /^\/files\/(.+)\/(\d+)\.parquet$/.exec(path);
    const bytes = file ? datasets[file[1]]?.[Number(file[2])] : undefined;
    if (!bytes) return new Response("not found", { status: 404 });
    const m = range ? /^bytes=(\d+)-$/.exec(range) : null;
    if (m) {
      const start = Number(m[1]);
      return new Response(bytes.slice(start), {
        status: 206,
        headers: { "content-range": `bytes ${start}-${bytes.length - 1}/${bytes.length}` },
      });
    }
    return new Response(bytes, { headers: { "content-length": String(bytes.length) } });
  });
  return {
    url: `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`,
    requests,
    failing,
    close: () => server.shutdown(),
  };
}

async function withHub(
  datasets: Record<string, Uint8Array<ArrayBuffer>[]>,
  fn: (hub: Hub, base: string) => Promise<void>,
) {
  const hub = serveHub(datasets);
  const old = Deno.env.get(HUB_URL_ENV);
  Deno.env.set(HUB_URL_ENV, hub.url);
  try {
    await withTempDir((base) => fn(hub, base));
  } finally {
    if (old === undefined) Deno.env.delete(HUB_URL_ENV);
    else Deno.env.set(HUB_URL_ENV, old);
    await hub.close();
  }
}

Deno.test("hub download: shards listed, cached with a manifest, read in order and shuffled with seed 42", async () => {
  const shards = [gsmShard(0, 30), gsmShard(30, 50)];
  await withHub({ "openai/gsm8k/main/test": shards }, async (hub, base) => {
    const task = await GSM8K.load({ split: "test", baseDir: base, quiet: true });
    assertEquals(task.size, 50);
    const perm = numpyPermutation(50, 42);
    for (const i of [0, 1, 49]) {
      assertEquals(task.get(i).messages[0].content, `question ${perm[i]}`);
      assert(await task.evaluate(task.get(i), `#### ${2 * perm[i]}`));
    }
    const dir = hubCacheDir(base, { repo: "openai/gsm8k", subset: "main", split: "test" });
    assertEquals(JSON.parse(await Deno.readTextFile(join(dir, "manifest.json"))), [
      "00000.parquet",
      "00001.parquet",
    ]);
    assertEquals(hub.requests.length, 3);
    // cached: a second load makes no request at all
    await GSM8K.load({ split: "test", baseDir: base, quiet: true });
    assertEquals(hub.requests.length, 3);
  });
});

Deno.test("hub download: nested columns (ARC's choices struct of lists) arrive as nanochat reads them", async () => {
  await withHub({ "allenai/ai2_arc/ARC-Easy/train": [arcShard()] }, async (_hub, base) => {
    const arc = await ARC.load({ subset: "ARC-Easy", split: "train", baseDir: base, quiet: true });
    const all = [arc.get(0), arc.get(1)];
    const gas = all.find((c) => (c.messages[0].content as string).includes("gas"))!;
    assertEquals(gas.letters, ["1", "2", "3"]);
    assertEquals(gas.messages[1].content, "2");
    assert((gas.messages[0].content as string).includes("- air=2\n"));
  });
});

Deno.test("hub download: a partial shard from an interrupted run is resumed with a Range request", async () => {
  const shards = [gsmShard(0, 40)];
  await withHub({ "openai/gsm8k/main/train": shards }, async (hub, base) => {
    const dir = hubCacheDir(base, { repo: "openai/gsm8k", subset: "main", split: "train" });
    await Deno.mkdir(dir, { recursive: true });
    const half = Math.floor(shards[0].length / 2);
    await Deno.writeFile(join(dir, "00000.parquet.tmp"), shards[0].slice(0, half));
    const task = await GSM8K.load({ split: "train", baseDir: base, quiet: true });
    assertEquals(task.size, 40);
    assert(hub.requests.some((r) => r.endsWith(`bytes=${half}-`)), hub.requests.join("\n"));
    assertEquals(await Deno.readFile(join(dir, "00000.parquet")), shards[0]);
  });
});

Deno.test("hub download: a failing listing or shard is a clear error and leaves no manifest", async () => {
  await withHub({ "openai/gsm8k/main/test": [gsmShard(0, 5)] }, async (hub, base) => {
    hub.failing.add("/api/datasets/openai/gsm8k/parquet/main/test");
    await assertRejects(
      () => GSM8K.load({ split: "test", baseDir: base, quiet: true }),
      UserError,
      "HTTP 500",
    );
    await assertRejects(
      () => GSM8K.load({ split: "train", baseDir: base, quiet: true }),
      UserError,
      "HTTP 404",
    );
    const dir = hubCacheDir(base, { repo: "openai/gsm8k", subset: "main", split: "test" });
    await assertRejects(() => Deno.stat(join(dir, "manifest.json")), Deno.errors.NotFound);
  });
});

Deno.test("hub download: loads of one split at once (the ranks of a data-parallel run) download it once", async () => {
  const shards = [gsmShard(0, 30), gsmShard(30, 50)];
  await withHub({ "openai/gsm8k/main/test": shards }, async (hub, base) => {
    const [a, b] = await Promise.all([
      GSM8K.load({ split: "test", baseDir: base, quiet: true }),
      GSM8K.load({ split: "test", baseDir: base, quiet: true }),
    ]);
    assertEquals([a.size, b.size], [50, 50]);
    assertEquals(hub.requests.length, 3); // one listing, two shards
  });
});
