// `nanochat train sft` end to end with a tiny d2 model on the shared offline data: padded batches with
// only the assistant's tokens as targets, validation loss falls, MMLU/ARC-Easy accuracy is measured,
// exact resume, SIGTERM saves, bad inputs fail clearly and overwrite nothing; chat then talks to it.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { join } from "node:path";
import { listCheckpoints } from "../src/checkpoint/checkpoint.ts";
import { collate } from "../src/train/sft_batches.ts";
import { makeTinyBaseCheckpoint, makeTinyTokenizer, runCliProcess, withTempDir } from "./helpers.ts";
import {
  assertExactResume,
  assertSigtermSaves,
  assertUntouched,
  CHAT,
  emptyTaskDir,
  NO_CHAT_DATA as ignore,
  onlyModelBytes,
  PRETRAIN,
} from "./stage_helpers.ts";

const TINY = [
  "train",
  "sft",
  "--device-batch-size",
  "4",
  "--target-examples-per-step",
  "8",
  "--eval-steps",
  "4",
  "--eval-metrics-max-problems",
  "16",
];

async function sft(base: string, extra: string[], taskDir = CHAT!) {
  return await runCliProcess(["--base-dir", base, ...TINY, "--task-data-dir", taskDir, ...extra]);
}

Deno.test("sft batches: padded with the pad id; targets -1 where the mask is 0 and on padding", () => {
  const b = collate([
    { ids: [1, 2, 3, 4], mask: [0, 0, 1, 1] },
    { ids: [1, 5], mask: [0, 1] },
  ], 9);
  assertEquals(b.T, 3);
  assertEquals([...b.inputs], [1, 2, 3, 1, 9, 9]);
  assertEquals([...b.targets], [-1, 3, 4, 5, -1, -1]);
  assertEquals(b.validTokens, 3);
});

Deno.test({
  name:
    "train sft: from mid, validation loss falls; accuracies, checkpoint, report section; chat -i sft works",
  ignore,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyBaseCheckpoint(base, PRETRAIN!);
      const mid = await runCliProcess([
        "--base-dir",
        base,
        "train",
        "mid",
        "--max-seq-len",
        "64",
        "--device-batch-size",
        "4",
        "--total-batch-size",
        "256",
        "--num-iterations",
        "4",
        "--eval-every",
        "-1",
        "--task-data-dir",
        CHAT!,
      ]);
      assertEquals(mid.code, 0, mid.err + mid.out);
      const res = await sft(base, [
        "--num-iterations",
        "40",
        "--eval-every",
        "20",
        "--eval-metrics-every",
        "40",
        "--init-lr-frac",
        "0.5",
        "--log-every",
        "10",
      ]);
      assertEquals(res.code, 0, res.err + res.out);
      assertStringIncludes(res.out, "ARC-Easy train: 0 rows (absent offline: left out)");
      assertStringIncludes(res.out, "from " + join(base, "mid_checkpoints", "d2"));
      const losses = [...res.out.matchAll(/validation loss: ([\d.]+)/g)].map((m) => Number(m[1]));
      assertEquals(losses.length, 3, res.out);
      assert(losses[2] < losses[0] - 0.2, `SFT validation loss should fall: ${losses.join(" -> ")}`);
      assert(
        /MMLU accuracy: [\d.]+ \(\d+\/16\), ARC-Easy accuracy: [\d.]+ \(\d+\/16\)/.test(res.out),
        res.out,
      );
      const ckpts = await listCheckpoints(join(base, "chatsft_checkpoints", "d2"));
      assertEquals(ckpts.map((c) => c.step), [40]);
      assertEquals(JSON.parse(Deno.readTextFileSync(ckpts[0].metaPath)).final, true);
      const section = Deno.readTextFileSync(join(base, "report", "chat-sft.md"));
      assertStringIncludes(section, "Validation loss");
      assertStringIncludes(section, "Training rows");

      // the default source of chat is sft, and now it exists
      const chat = await runCliProcess(["--base-dir", base, "chat", "-p", "Hello", "--max-tokens", "4"]);
      assertEquals(chat.code, 0, chat.err);
    }),
});

Deno.test({
  name: "train sft: stop + resume gives the losses of the uninterrupted run; SIGTERM saves and exits 0",
  ignore,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyBaseCheckpoint(base, PRETRAIN!);
      const flags = [
        "--source",
        "base",
        "--num-iterations",
        "6",
        "--eval-every",
        "-1",
        "--eval-metrics-every",
        "-1",
      ];
      await assertExactResume((extra) => sft(base, extra), flags);

      const noEval = ["--eval-every", "-1", "--eval-metrics-every", "-1"];
      await assertSigtermSaves(
        ["--base-dir", base, ...TINY, "--task-data-dir", CHAT!, ...flags.slice(0, 2), ...noEval],
        /^step 00002\//m,
        join(base, "chatsft_checkpoints", "term"),
      );
    }),
});

Deno.test({
  name:
    "train sft: no mid checkpoint, an empty mixture, a bad batch size: one clear line, nothing overwritten",
  ignore,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyTokenizer(base, PRETRAIN!);
      const none = await sft(base, ["--num-iterations", "2"]);
      assertEquals(none.code, 1);
      assertStringIncludes(none.err, "no mid checkpoint in");
      assertStringIncludes(none.err, "`nanochat train mid`");

      await makeTinyBaseCheckpoint(base, PRETRAIN!);
      const flags = [
        "--source",
        "base",
        "--num-iterations",
        "2",
        "--eval-every",
        "-1",
        "--eval-metrics-every",
        "-1",
      ];
      const ok = await sft(base, flags);
      assertEquals(ok.code, 0, ok.err);
      const ckptDir = join(base, "chatsft_checkpoints", "d2");
      const before = await onlyModelBytes(ckptDir);

      const e = await sft(base, flags, emptyTaskDir(base));
      assertEquals(e.code, 1, e.out);
      assertStringIncludes(e.err, "SFT mixture is empty");

      const bad = await sft(base, [...flags, "--target-examples-per-step", "6"]);
      assertEquals(bad.code, 1);
      assertStringIncludes(bad.err, "must be a multiple of --device-batch-size 4");

      await assertUntouched(ckptDir, before);
    }),
});
