import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { join } from "node:path";
import { UserError } from "../src/common/errors.ts";
import {
  bf16ToF32,
  encodeSafetensors,
  f32ToBf16,
  readSafetensors,
  readSafetensorsHeader,
  saveSafetensors,
} from "../src/checkpoint/safetensors.ts";
import {
  checkpointDir,
  findModelTag,
  latestCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  metaFile,
  modelFile,
  optimFile,
  pruneCheckpoints,
  saveCheckpoint,
} from "../src/checkpoint/checkpoint.ts";
import { withTempDir } from "./helpers.ts";

const le32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];

Deno.test("safetensors: byte layout of a tiny file matches a hand-built one", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "t.safetensors");
    await saveSafetensors(path, [
      { name: "a", shape: [2], data: new Float32Array([1, -2]) },
      { name: "b", shape: [1, 1], data: new Int32Array([7]) },
    ], { k: "v" });
    const json = '{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"b":{"dtype":"I32","shape":[1,1],"data_offsets":[8,12]}}';
    assertEquals(json.length, 135);
    const expected = new Uint8Array([
      136,
      0,
      0,
      0,
      0,
      0,
      0,
      0, // u64 LE header length: 135 bytes of JSON + 1 space of padding
      ...new TextEncoder().encode(json + " "),
      0x00,
      0x00,
      0x80,
      0x3f, // 1.0f
      0x00,
      0x00,
      0x00,
      0xc0, // -2.0f
      ...le32(7),
    ]);
    assertEquals(await Deno.readFile(path), expected);
    assertEquals(
      encodeSafetensors([
        { name: "a", shape: [2], data: new Float32Array([1, -2]) },
        { name: "b", shape: [1, 1], data: new Int32Array([7]) },
      ], { k: "v" }),
      expected,
    );
  });
});

Deno.test("safetensors: round trip with metadata, header aligned to 8 bytes, subset read", async () => {
  await withTempDir(async (dir) => {
    for (const nameLen of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const path = join(dir, `r${nameLen}.safetensors`);
      const w = new Float32Array(12).map((_, i) => i * 0.5 - 3);
      const tensors = [
        { name: "w".repeat(nameLen), shape: [3, 4], data: w },
        { name: "idx", shape: [3], data: new Int32Array([-1, 0, 2147483647]) },
        { name: "scalar", shape: [], data: new Float32Array([42]) },
        { name: "empty", shape: [0, 5], data: new Float32Array(0) },
      ];
      await saveSafetensors(path, tensors, { format: "pt", step: "12" });
      const bytes = await Deno.readFile(path);
      const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      assertEquals(n % 8, 0, `header length ${n} is not a multiple of 8`);
      assertEquals(bytes.length, 8 + n + 12 * 4 + 3 * 4 + 4);
      const back = await readSafetensors(path);
      assertEquals(back.metadata, { format: "pt", step: "12" });
      assertEquals([...back.tensors.keys()], ["w".repeat(nameLen), "idx", "scalar", "empty"]);
      const bw = back.tensors.get("w".repeat(nameLen))!;
      assertEquals(bw.dtype, "F32");
      assertEquals(bw.shape, [3, 4]);
      assertEquals(bw.data, w);
      assertEquals(back.tensors.get("idx")!.data, new Int32Array([-1, 0, 2147483647]));
      assertEquals(back.tensors.get("scalar")!.shape, []);
      assertEquals(back.tensors.get("empty")!.data, new Float32Array(0));
      const sub = await readSafetensors(path, { names: ["idx"] });
      assertEquals([...sub.tensors.keys()], ["idx"]);
    }
    await assertRejects(
      () => readSafetensors(join(dir, "r1.safetensors"), { names: ["nope"] }),
      UserError,
      `no tensor "nope"`,
    );
  });
});

Deno.test("safetensors: BF16 is stored as bits and upcast to F32 on request", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "bf.safetensors");
    const vals = new Float32Array([1, -2.5, 0.15625, 3.0e38]);
    await saveSafetensors(path, [{ name: "x", shape: [4], dtype: "BF16", data: f32ToBf16(vals) }]);
    const header = await readSafetensorsHeader(path);
    assertEquals(header.entries[0].dtype, "BF16");
    assertEquals(header.entries[0].end - header.entries[0].begin, 8);
    const raw = (await readSafetensors(path)).tensors.get("x")!;
    assertEquals(raw.dtype, "BF16");
    assert(raw.data instanceof Uint16Array);
    const up = (await readSafetensors(path, { upcastBf16: true })).tensors.get("x")!;
    assertEquals(up.dtype, "F32");
    assertEquals(Array.from(up.data as Float32Array).slice(0, 3), [1, -2.5, 0.15625]);
    assertEquals(bf16ToF32(new Uint16Array([0x3f80])), new Float32Array([1]));
  });
});

/** Writes a file made of an 8-byte LE length, the given header text and `data` bytes. */
async function writeRaw(path: string, headerText: string, dataBytes: number, lengthOverride?: number) {
  const h = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + h.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(lengthOverride ?? h.length), true);
  out.set(h, 8);
  await Deno.writeFile(path, out);
}

Deno.test("safetensors: corrupt files give UserErrors naming the file and the problem", async () => {
  await withTempDir(async (dir) => {
    const p = join(dir, "bad.safetensors");
    const expectErr = async (what: string) => {
      const err = await assertRejects(() => readSafetensors(p), UserError, what);
      assertStringIncludes(err.message, p);
    };
    await Deno.writeFile(p, new Uint8Array([1, 2, 3]));
    await expectErr("file too short");
    await writeRaw(p, "{}", 0, 1000);
    await expectErr("header length 1000 goes past the end of the file");
    await writeRaw(p, "{not json", 0);
    await expectErr("not valid JSON");
    await writeRaw(p, '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', 4);
    await expectErr("truncated");
    await writeRaw(p, '{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', 8);
    await expectErr("shape [3] as F32 needs 12");
    await writeRaw(
      p,
      '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
      8,
    );
    await expectErr("overlap");
    await writeRaw(p, '{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,2]}}', 2);
    await expectErr("unknown dtype");
    await writeRaw(p, '{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}', 8);
    await expectErr("bad data_offsets");
    await writeRaw(p, '{"__metadata__":{"x":1}}', 0);
    await expectErr("not a string");
    // a real file cut short in its data section
    const good = join(dir, "good.safetensors");
    await saveSafetensors(good, [{ name: "w", shape: [100], data: new Float32Array(100) }]);
    const bytes = await Deno.readFile(good);
    await Deno.writeFile(p, bytes.subarray(0, bytes.length - 3));
    await expectErr("truncated");
  });
});

const model = (v: number) => [
  { name: "wte", shape: [4, 2], data: new Float32Array(8).fill(v) },
  { name: "lm_head", shape: [2, 4], data: new Float32Array(8).fill(-v) },
];
const shapes = { wte: [4, 2], lm_head: [2, 4] };

Deno.test("checkpoint: save, list, load latest and a given step; nanochat file names", async () => {
  await withTempDir(async (base) => {
    const dir = checkpointDir(base, "base", "d4");
    assertEquals(dir, join(base, "base_checkpoints", "d4"));
    assertEquals(checkpointDir(base, "sft", "d4"), join(base, "chatsft_checkpoints", "d4"));
    assertEquals(checkpointDir(base, "rl", "d4"), join(base, "chatrl_checkpoints", "d4"));
    assertEquals(checkpointDir(base, "mid", "d4"), join(base, "mid_checkpoints", "d4"));
    await saveCheckpoint(dir, 100, { model: model(1), optim: model(10), meta: { step: 100, cfg: { n: 4 } } });
    await saveCheckpoint(dir, 20, { model: model(2), meta: { step: 20 } });
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(files, [
      "meta_000020.json",
      "meta_000100.json",
      "model_000020.safetensors",
      "model_000100.safetensors",
      "optim_000100_rank0.safetensors",
    ]);
    assertEquals(optimFile(100, 3), "optim_000100_rank3.safetensors");
    assertEquals((await listCheckpoints(dir)).map((c) => c.step), [20, 100]);
    assertEquals((await latestCheckpoint(dir))!.step, 100);
    const latest = await loadCheckpoint(dir, undefined, { expect: shapes, loadOptim: true });
    assertEquals(latest.step, 100);
    assertEquals(latest.meta, { step: 100, cfg: { n: 4 } });
    assertEquals(latest.model.get("wte")!.data, new Float32Array(8).fill(1));
    assertEquals(latest.optim!.get("lm_head")!.data, new Float32Array(8).fill(-10));
    const old = await loadCheckpoint(dir, 20);
    assertEquals(old.model.get("lm_head")!.data, new Float32Array(8).fill(-2));
    await assertRejects(() => loadCheckpoint(dir, 20, { loadOptim: true }), UserError, "no optimizer state");
    // the meta JSON is plain, readable JSON
    assertEquals(JSON.parse(await Deno.readTextFile(join(dir, metaFile(20)))), { step: 20 });
  });
});

Deno.test("checkpoint: clear errors for missing dir, missing step, wrong shapes, corrupt files", async () => {
  await withTempDir(async (base) => {
    const dir = checkpointDir(base, "base", "d4");
    await assertRejects(
      () => loadCheckpoint(dir),
      UserError,
      `no checkpoint in ${dir}: train one with \`nanochat train base\``,
    );
    await assertRejects(
      () => loadCheckpoint(checkpointDir(base, "sft", "d4")),
      UserError,
      "nanochat train sft",
    );
    await saveCheckpoint(dir, 5, { model: model(1), meta: {} });
    await assertRejects(() => loadCheckpoint(dir, 6), UserError, "no checkpoint at step 6");
    const err = await assertRejects(
      () => loadCheckpoint(dir, 5, { expect: { wte: [4, 3], lm_head: [2, 4], extra: [1] } }),
      UserError,
      `tensor "wte": expected shape [4, 3], found [4, 2]`,
    );
    assertStringIncludes(err.message, `missing tensor "extra"`);
    await assertRejects(
      () => loadCheckpoint(dir, 5, { expect: { wte: [4, 2] } }),
      UserError,
      `unexpected tensor`,
    );
    await loadCheckpoint(dir, 5, { expect: [{ name: "wte", shape: [4, 2] }], strict: false });
    // corrupt model file
    const mp = join(dir, modelFile(5));
    const bytes = await Deno.readFile(mp);
    await Deno.writeFile(mp, bytes.subarray(0, bytes.length - 1));
    const e2 = await assertRejects(() => loadCheckpoint(dir, 5), UserError, "truncated");
    assertStringIncludes(e2.message, mp);
    await Deno.writeTextFile(join(dir, metaFile(5)), "{oops");
    await assertRejects(() => loadCheckpoint(dir, 5), UserError, "corrupt checkpoint metadata");
  });
});

Deno.test("checkpoint: a crash before the meta leaves no complete checkpoint; the previous one still loads", async () => {
  await withTempDir(async (base) => {
    const dir = checkpointDir(base, "base", "d4");
    await saveCheckpoint(dir, 100, { model: model(1), optim: model(1), meta: { step: 100 } });
    await assertRejects(
      () =>
        saveCheckpoint(dir, 200, { model: model(2), optim: model(2), meta: { step: 200 } }, {
          beforeMeta: () => {
            throw new Error("simulated crash");
          },
        }),
      Error,
      "simulated crash",
    );
    // data files of 200 are on disk, but without a meta the checkpoint is not complete
    const names = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert(names.includes(modelFile(200)));
    assert(!names.includes(metaFile(200)));
    assertEquals((await listCheckpoints(dir)).map((c) => c.step), [100]);
    const loaded = await loadCheckpoint(dir);
    assertEquals(loaded.step, 100);
    assertEquals(loaded.model.get("wte")!.data, new Float32Array(8).fill(1));
    await assertRejects(() => loadCheckpoint(dir, 200), UserError, "no checkpoint at step 200");
    // leftovers of a crash mid-write (temp files) are ignored, then cleaned by the next save
    await Deno.writeFile(join(dir, modelFile(300) + ".tmp-999-abcd"), new Uint8Array(10));
    await Deno.writeFile(join(dir, metaFile(300) + ".tmp-999-abcd"), new Uint8Array(10));
    assertEquals((await listCheckpoints(dir)).map((c) => c.step), [100]);
    await saveCheckpoint(dir, 400, { model: model(4), meta: { step: 400 } });
    const after = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(after, [
      "meta_000100.json",
      "meta_000400.json",
      "model_000100.safetensors",
      "model_000400.safetensors",
      "optim_000100_rank0.safetensors",
    ]);
  });
});

Deno.test("checkpoint: re-saving a step replaces it; a crash while doing so does not pair old meta with new data", async () => {
  await withTempDir(async (base) => {
    const dir = checkpointDir(base, "base", "d4");
    await saveCheckpoint(dir, 7, { model: model(1), meta: { v: 1 } });
    await assertRejects(() =>
      saveCheckpoint(dir, 7, { model: model(2), meta: { v: 2 } }, {
        beforeMeta: () => {
          throw new Error("crash");
        },
      })
    );
    assertEquals(await listCheckpoints(dir), []);
    await saveCheckpoint(dir, 7, { model: model(3), meta: { v: 3 } });
    const c = await loadCheckpoint(dir, 7);
    assertEquals(c.meta, { v: 3 });
    assertEquals(c.model.get("wte")!.data, new Float32Array(8).fill(3));
  });
});

Deno.test("checkpoint: pruning keeps the newest N complete checkpoints", async () => {
  await withTempDir(async (base) => {
    const dir = checkpointDir(base, "base", "d4");
    for (const s of [10, 20, 30, 40]) {
      await saveCheckpoint(dir, s, { model: model(s), optim: model(s), meta: {} });
    }
    assertEquals(await pruneCheckpoints(dir, 2), [10, 20]);
    assertEquals((await listCheckpoints(dir)).map((c) => c.step), [30, 40]);
    assertEquals([...Deno.readDirSync(dir)].length, 6);
    assertEquals(await pruneCheckpoints(dir, 5), []);
    assertEquals(await pruneCheckpoints(dir, 1), [30]);
    assertEquals((await latestCheckpoint(dir))!.step, 40);
    await assertRejects(() => pruneCheckpoints(dir, 0), UserError, "positive integer");
    assertEquals((await listCheckpoints(dir)).map((c) => c.step), [40]);
  });
});

Deno.test("checkpoint: latest step is numeric (not lexicographic), tag picks the largest d<N>", async () => {
  await withTempDir(async (base) => {
    await assertRejects(() => findModelTag(base, "base"), UserError, "no checkpoint in");
    const d4 = checkpointDir(base, "base", "d4");
    const d12 = checkpointDir(base, "base", "d12");
    await saveCheckpoint(d4, 999, { model: model(1), meta: {} });
    await saveCheckpoint(d4, 1000000, { model: model(2), meta: {} });
    assertEquals((await latestCheckpoint(d4))!.step, 1000000);
    assertEquals(modelFile(1000000), "model_1000000.safetensors");
    assertEquals(await findModelTag(base, "base"), "d4");
    await saveCheckpoint(d12, 5, { model: model(3), meta: {} });
    // d12 beats d4 even though "d4" > "d12" as strings
    assertEquals(await findModelTag(base, "base"), "d12");
    // an empty d20 folder (no complete checkpoint) does not count
    await Deno.mkdir(checkpointDir(base, "base", "d20"), { recursive: true });
    assertEquals(await findModelTag(base, "base"), "d12");
    assertEquals(await latestCheckpoint(checkpointDir(base, "base", "d20")), null);
  });
});
