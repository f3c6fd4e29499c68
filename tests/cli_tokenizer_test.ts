// `nanochat tokenizer ...` end to end as a user runs it: a real subprocess, real shards, real files.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { join } from "node:path";
import { runCliProcess, sharedPretrainDir, withTempDir } from "./helpers.ts";

const SHARED = sharedPretrainDir();

Deno.test({
  name: "tokenizer train, eval, encode and decode on the shared shards",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (base) => {
      const train = await runCliProcess([
        "--base-dir",
        base,
        "tokenizer",
        "train",
        "--vocab-size",
        "2048",
        "--max-chars",
        "2e6",
        "--data-dir",
        SHARED!,
      ]);
      assertEquals(train.code, 0, train.err);
      assertStringIncludes(train.out, "trained a 2048-token vocabulary");
      const files = [...Deno.readDirSync(join(base, "tokenizer"))].map((e) => e.name).sort();
      assertEquals(files, ["tokenizer.json", "tokenizer.tiktoken"]);
      const meta = JSON.parse(Deno.readTextFileSync(join(base, "tokenizer", "tokenizer.json")));
      assertEquals(meta.special_tokens["<|bos|>"], 2048 - 9);
      assertStringIncludes(
        Deno.readTextFileSync(join(base, "report", "tokenizer-training.md")),
        "## Tokenizer training",
      );

      const evaluation = await runCliProcess([
        "--base-dir",
        base,
        "tokenizer",
        "eval",
        "--data-dir",
        SHARED!,
      ]);
      assertEquals(evaluation.code, 0, evaluation.err);
      for (const label of ["Comparison with GPT-2", "Comparison with GPT-4", "| korean |", "| fwe-val |"]) {
        assertStringIncludes(evaluation.out, label);
      }

      const encoded = await runCliProcess(["--base-dir", base, "tokenizer", "encode", "Hello world, 123!"]);
      assertEquals(encoded.code, 0, encoded.err);
      const ids = encoded.out.trim().split(" ");
      assert(ids.length > 1 && ids.every((s) => /^\d+$/.test(s)), encoded.out);
      const decoded = await runCliProcess(["--base-dir", base, "tokenizer", "decode", ...ids]);
      assertEquals(decoded.out, "Hello world, 123!\n");
      const fromStdin = await runCliProcess(["--base-dir", base, "tokenizer", "decode"], {
        stdin: ids.join(","),
      });
      assertEquals(fromStdin.out, "Hello world, 123!\n");
      const badId = await runCliProcess(["--base-dir", base, "tokenizer", "decode", "5", "999999"]);
      assertEquals(badId.code, 1);
      assertStringIncludes(badId.err, "invalid token id 999999");
    }),
});

Deno.test("tokenizer bad inputs: clear messages, exit code 1, nothing written", () =>
  withTempDir(async (base) => {
    const missing = await runCliProcess(["--base-dir", base, "tokenizer", "encode", "hi"]);
    assertEquals(missing.code, 1);
    assertStringIncludes(missing.err, "nanochat tokenizer train");
    assert(!missing.err.includes("    at "), `no stack trace expected:\n${missing.err}`);

    const noData = await runCliProcess(["--base-dir", base, "tokenizer", "train"]);
    assertEquals(noData.code, 1);
    assertStringIncludes(noData.err, "nanochat data download");

    if (SHARED !== null) {
      const tooSmall = await runCliProcess([
        "--base-dir",
        base,
        "tokenizer",
        "train",
        "--vocab-size",
        "100",
        "--data-dir",
        SHARED,
      ]);
      assertEquals(tooSmall.code, 1);
      assertStringIncludes(tooSmall.err, "at least 265");
    }
    const notANumber = await runCliProcess([
      "--base-dir",
      base,
      "tokenizer",
      "train",
      "--vocab-size",
      "lots",
    ]);
    assertEquals(notANumber.code, 1);
    assertStringIncludes(notANumber.err, "--vocab-size expects an integer");

    assertEquals([...Deno.readDirSync(base)].map((e) => e.name).filter((n) => n === "tokenizer"), []);
  }));

Deno.test("--help and --version work on every command", async () => {
  const version = await runCliProcess(["--version"]);
  assertEquals(version.code, 0);
  assert(/^\d+\.\d+\.\d+\n$/.test(version.out), version.out);
  for (
    const cmd of [
      [],
      ["data"],
      ["data", "download"],
      ["data", "info"],
      ["tokenizer"],
      ["tokenizer", "train"],
      [
        "tokenizer",
        "eval",
      ],
      ["tokenizer", "encode"],
      ["tokenizer", "decode"],
      ["speedrun"],
    ]
  ) {
    const help = await runCliProcess([...cmd, "--help"]);
    assertEquals(help.code, 0, `${cmd.join(" ")}: ${help.err}`);
    assertStringIncludes(help.out, "Usage: nanochat");
  }
});
