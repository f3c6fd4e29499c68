// Model shapes from --depth, parameter counts and FLOPs against nanochat's recorded numbers.
import { assertEquals, assertThrows } from "@std/assert";
import { UserError } from "../src/common/errors.ts";
import { configFromDepth, countParams, flopsPerToken, validateConfig } from "../src/model/config.ts";
import { runCliProcess } from "./helpers.ts";

Deno.test("depth gives nanochat's widths and heads", () => {
  assertEquals(configFromDepth(20), {
    sequenceLen: 2048,
    vocabSize: 65536,
    nLayer: 20,
    nHead: 10,
    nKvHead: 10,
    nEmbd: 1280,
  });
  assertEquals([configFromDepth(26).nEmbd, configFromDepth(26).nHead], [1664, 13]);
  assertEquals([configFromDepth(32).nEmbd, configFromDepth(32).nHead], [2048, 16]);
  assertEquals([configFromDepth(4).nEmbd, configFromDepth(4).nHead], [256, 2]);
});

Deno.test("parameter counts and FLOPs per token match the reference (vocab 65536)", () => {
  const d20 = countParams(configFromDepth(20));
  assertEquals(d20, { wte: 83_886_080, lmHead: 83_886_080, transformer: 393_216_000, total: 560_988_160 });
  assertEquals(countParams(configFromDepth(26)).total, 1_081_999_360);
  assertEquals(countParams(configFromDepth(32)).total, 1_879_048_192);
  assertEquals(flopsPerToken(configFromDepth(20)).toExponential(4), "3.4918e+9");
  assertEquals(flopsPerToken(configFromDepth(26)).toExponential(4), "6.9009e+9");
  assertEquals(flopsPerToken(configFromDepth(32)).toExponential(5), "1.20796e+10");
});

Deno.test("invalid shapes are rejected with the reason", () => {
  assertThrows(() => configFromDepth(5), UserError, "not divisible by 3 heads"); // 320 / 3
  assertThrows(() => configFromDepth(0), UserError, "positive integer");
  const c = configFromDepth(4);
  assertThrows(() => validateConfig({ ...c, nKvHead: 3 }), UserError, "kv heads must divide");
});

Deno.test("nanochat model info prints the counts", async () => {
  const { code, out } = await runCliProcess(["model", "info", "--depth", "20"]);
  assertEquals(code, 0);
  assertEquals(/params: total\s+560,988,160/.test(out), true, out);
  const bad = await runCliProcess(["model", "info", "--depth", "5"]);
  assertEquals(bad.code, 1);
});
