// `nanochat train mid` end to end on the shared offline data with a tiny d2 model: validation bpb
// falls, exact resume, SIGTERM saves, and bad inputs (no base checkpoint, an empty mixture, a corrupt
// dataset file) fail with one clear line and leave what exists alone.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { join } from "node:path";
import { listCheckpoints } from "../src/checkpoint/checkpoint.ts";
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

// d2 from the tiny base checkpoint; T 64, 2 micro-batches of 4 rows per step
const TINY = [
  "train",
  "mid",
  "--max-seq-len",
  "64",
  "--device-batch-size",
  "4",
  "--total-batch-size",
  "512",
  "--eval-tokens",
  "2048",
];

async function mid(base: string, extra: string[], taskDir = CHAT!) {
  return await runCliProcess(["--base-dir", base, ...TINY, "--task-data-dir", taskDir, ...extra]);
}

Deno.test({
  name: "train mid: validation bpb falls from the base model's; checkpoint, report section and metrics",
  ignore,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyBaseCheckpoint(base, PRETRAIN!);
      const res = await mid(base, ["--num-iterations", "60", "--eval-every", "30", "--log-every", "20"]);
      assertEquals(res.code, 0, res.err + res.out);
      // the log names every dataset of the mixture and its rows
      for (
        const name of [
          "SmolTalk train",
          "MMLU auxiliary_train",
          "GSM8K train",
          "SimpleSpelling",
          "SpellingBee",
        ]
      ) {
        assertStringIncludes(res.out, `  ${name}`);
      }
      assertStringIncludes(res.out, "estimate: ");
      const bpb = [...res.out.matchAll(/validation bpb: ([\d.]+)/g)].map((m) => Number(m[1]));
      assertEquals(bpb.length, 3, res.out);
      assert(bpb[2] < bpb[0] - 0.2, `mid validation bpb should fall: ${bpb.join(" -> ")}`);
      const ckpts = await listCheckpoints(join(base, "mid_checkpoints", "d2"));
      assertEquals(ckpts.map((c) => c.step), [60]);
      const meta = JSON.parse(Deno.readTextFileSync(ckpts[0].metaPath));
      assertEquals(meta.final, true);
      assertEquals(meta.source.stage, "base");
      const section = Deno.readTextFileSync(join(base, "report", "midtraining.md"));
      assertStringIncludes(section, "Minimum validation bpb");
      assertStringIncludes(section, "Rows of GSM8K train: 7473");
      assertStringIncludes(Deno.readTextFileSync(join(base, "report", "metrics-mid.jsonl")), '"bpb/val"');
    }),
});

Deno.test({
  name: "train mid: stop + resume gives the losses of the uninterrupted run; SIGTERM saves and exits 0",
  ignore,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyBaseCheckpoint(base, PRETRAIN!);
      const flags = ["--num-iterations", "6", "--eval-every", "-1"];
      await assertExactResume((extra) => mid(base, extra), flags, async () => {
        const meta = JSON.parse(
          Deno.readTextFileSync((await listCheckpoints(join(base, "mid_checkpoints", "split")))[0].metaPath),
        );
        assertEquals(meta.final, false);
      });

      await assertSigtermSaves(
        ["--base-dir", base, ...TINY, "--task-data-dir", CHAT!, "--eval-every", "-1"],
        /^step 00002 /m,
        join(base, "mid_checkpoints", "term"),
      );
    }),
});

Deno.test({
  name:
    "train mid: no base checkpoint, an empty mixture or a corrupt file: one clear line, nothing overwritten",
  ignore,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyTokenizer(base, PRETRAIN!);
      const none = await mid(base, ["--num-iterations", "2"]);
      assertEquals(none.code, 1);
      assertStringIncludes(none.err, "no base checkpoint in");
      assertStringIncludes(none.err, "`nanochat train base`");
      assert(!none.err.includes("    at "), none.err);

      await makeTinyBaseCheckpoint(base, PRETRAIN!);
      const ok = await mid(base, ["--num-iterations", "2", "--eval-every", "-1"]);
      assertEquals(ok.code, 0, ok.err);
      const ckptDir = join(base, "mid_checkpoints", "d2");
      const before = await onlyModelBytes(ckptDir);

      // an offline folder whose files are all empty: the mixture has no rows
      const e = await mid(base, ["--num-iterations", "2"], emptyTaskDir(base));
      assertEquals(e.code, 1, e.out);
      assertStringIncludes(e.err, "mixture is empty");

      // a corrupt line in one dataset: named by file and line
      const corrupt = join(base, "corrupt_tasks");
      Deno.mkdirSync(corrupt);
      for (const f of Deno.readDirSync(CHAT!)) Deno.symlinkSync(join(CHAT!, f.name), join(corrupt, f.name));
      Deno.removeSync(join(corrupt, "gsm8k_train.jsonl"));
      Deno.writeTextFileSync(
        join(corrupt, "gsm8k_train.jsonl"),
        '{"question": "1+1?", "answer": "#### 2"}\n{oops\n',
      );
      const c = await mid(base, ["--num-iterations", "2"], corrupt);
      assertEquals(c.code, 1, c.out);
      assertStringIncludes(c.err, "gsm8k_train.jsonl line 2");

      await assertUntouched(ckptDir, before);
    }),
});
