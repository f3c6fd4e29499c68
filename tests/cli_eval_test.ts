// `nanochat eval base --core` and `nanochat eval chat` end to end on a tiny trained model: the CSV, JSON and
// report files and their numbers; batching that does not change any answer; the bundle downloaded from a
// local server; and bad inputs (missing or corrupt bundle, unknown task, no chat checkpoint).
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { join } from "node:path";
import { EVAL_BUNDLE_URL_ENV } from "../src/eval/core_bundle.ts";
import {
  makeTinyBaseCheckpoint,
  makeTinyTokenizer,
  runCliProcess,
  sharedChatDir,
  sharedEvalBundleDir,
  sharedPretrainDir,
  tinyCoreBundleZip,
  withTempDir,
} from "./helpers.ts";

const PRETRAIN = sharedPretrainDir();
const CHAT = sharedChatDir();
const BUNDLE = sharedEvalBundleDir();
const noShared = PRETRAIN === null || CHAT === null || BUNDLE === null;

interface CoreJson {
  core: number;
  tasksEvaluated: number;
  tasksMissing: string[];
  tasks: { label: string; examples: number; accuracy: number; centered: number; correct: string }[];
}

async function core(base: string, batch: number) {
  const res = await runCliProcess([
    "--base-dir",
    base,
    "eval",
    "base",
    "--core",
    "--max-per-task",
    "12",
    "--eval-bundle",
    BUNDLE!,
    "--device-batch-size",
    String(batch),
  ]);
  assertEquals(res.code, 0, res.err + res.out);
  return {
    res,
    json: JSON.parse(await Deno.readTextFile(join(base, "base_eval", "base_model_000003.json"))) as CoreJson,
  };
}

Deno.test({
  name: "eval base --core: nanochat's CSV, a JSON file and the report section; batching changes no answer",
  ignore: noShared,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyBaseCheckpoint(base, PRETRAIN!);
      const { res, json } = await core(base, 8);
      assertEquals(json.tasksEvaluated, 18);
      assertEquals(json.tasksMissing, ["hellaswag_zeroshot", "hellaswag", "squad", "coqa"]);
      for (const t of json.tasks) {
        assertEquals(t.examples, 12);
        assertEquals(t.correct.length, 12);
        assertEquals(t.accuracy, [...t.correct].filter((c) => c === "1").length / 12);
      }
      const mean = json.tasks.reduce((s, t) => s + t.centered, 0) / json.tasks.length;
      assert(Math.abs(json.core - mean) < 1e-12);
      const csv = (await Deno.readTextFile(join(base, "base_eval", "base_model_000003.csv"))).split("\n")
        .slice(0, -1);
      assertEquals(csv.length, 20);
      assertEquals(csv[0], "Task                               , Accuracy  , Centered  ");
      assertEquals(
        csv[19],
        `CORE                               ,           , ${json.core.toFixed(6).padEnd(10)}`,
      );
      const report = await Deno.readTextFile(join(base, "report", "base-model-evaluation.md"));
      assertStringIncludes(report, "## Base model evaluation\n");
      assertStringIncludes(report, "- Model: base_model (step 3)\n");
      assertStringIncludes(report, `- CORE metric: ${json.core.toFixed(4)}\n`);
      assertStringIncludes(
        report,
        "- Tasks evaluated: 18 of 22 (missing: hellaswag_zeroshot, hellaswag, squad, coqa)",
      );
      assertStringIncludes(res.out, "CORE metric:");
      // one sequence per forward pass gives the same answers as packed batches of 8
      const single = await core(base, 1);
      assertEquals(
        single.json.tasks.map((t) => t.correct),
        json.tasks.map((t) => t.correct),
      );
    }),
});

Deno.test({
  name:
    "eval base --core: a missing bundle is downloaded (zip from a local server); bad bundles are clear errors",
  ignore: noShared,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyBaseCheckpoint(base, PRETRAIN!);
      const zip = tinyCoreBundleZip();
      let served = 0;
      const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
        served++;
        return new URL(req.url).pathname === "/eval_bundle.zip"
          ? new Response(zip)
          : new Response("nope", { status: 404 });
      });
      const url = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
      try {
        const bad = await runCliProcess(["--base-dir", base, "eval", "base", "--core"], {
          env: { [EVAL_BUNDLE_URL_ENV]: `${url}/missing.zip` },
        });
        assertEquals(bad.code, 1);
        assertStringIncludes(bad.err, "could not download the CORE eval bundle");
        assertStringIncludes(bad.err, "--eval-bundle DIR");
        const ok = await runCliProcess(["--base-dir", base, "eval", "base", "--core"], {
          env: { [EVAL_BUNDLE_URL_ENV]: `${url}/eval_bundle.zip` },
        });
        assertEquals(ok.code, 0, ok.err);
        assertStringIncludes(ok.out, "copa (0-shot, multiple_choice, 12 examples)");
        assert(served >= 2);
        assert((await Deno.stat(join(base, "eval_bundle", "core.yaml"))).isFile);
      } finally {
        await server.shutdown();
      }
      const corrupt = join(base, "corrupt");
      await Deno.mkdir(corrupt);
      await Deno.writeTextFile(join(corrupt, "core.yaml"), "icl_tasks: []\n");
      await Deno.writeTextFile(join(corrupt, "eval_meta_data.csv"), "Eval Task,Random baseline\n");
      const res = await runCliProcess([
        "--base-dir",
        base,
        "eval",
        "base",
        "--core",
        "--eval-bundle",
        corrupt,
      ]);
      assertEquals(res.code, 1);
      assertStringIncludes(res.err, "incomplete or corrupt: core.yaml has no icl_tasks list");
      assert(!res.err.includes("    at "), "no stack trace");
      const missing = await runCliProcess([
        "--base-dir",
        base,
        "eval",
        "base",
        "--core",
        "--eval-bundle",
        join(base, "nope"),
      ]);
      assertStringIncludes(missing.err, "does not exist");
    }),
});

Deno.test({
  name: "eval chat: every task on a tiny model saved as an SFT checkpoint; table, JSON, CSV and report lines",
  ignore: noShared,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyBaseCheckpoint(base, PRETRAIN!);
      await Deno.mkdir(join(base, "chatsft_checkpoints"));
      await Deno.rename(join(base, "base_checkpoints", "d2"), join(base, "chatsft_checkpoints", "d2"));
      const res = await runCliProcess([
        "--base-dir",
        base,
        "eval",
        "chat",
        "-i",
        "sft",
        "-x",
        "5",
        "-m",
        "12",
        "-n",
        "2",
        "-t",
        "1",
        "--task-data-dir",
        CHAT!,
        "--require-sandbox",
      ]);
      assertEquals(res.code, 0, res.err + res.out);
      const json = JSON.parse(await Deno.readTextFile(join(base, "chat_eval", "sft_model_000003.json")));
      assertEquals(json.tasks.map((t: { task: string }) => t.task), [
        "ARC-Easy",
        "ARC-Challenge",
        "MMLU",
        "GSM8K",
        "HumanEval",
        "SpellingBee",
      ]);
      for (const t of json.tasks) {
        assertEquals(t.total, 5);
        if (t.evalType === "generative") assertEquals(t.passAtK.length, 2);
      }
      assertEquals(typeof json.chatCore, "number");
      const report = await Deno.readTextFile(join(base, "report", "chat-evaluation-sft.md"));
      for (
        const name of [
          "ARC-Easy",
          "ARC-Challenge",
          "MMLU",
          "GSM8K",
          "HumanEval",
          "SpellingBee",
          "ChatCORE metric",
        ]
      ) {
        assert(new RegExp(`^- ${name}: -?[0-9.]+$`, "m").test(report), `report lacks ${name}:\n${report}`);
      }
      assertStringIncludes(res.out, "ChatCORE:");
      const csv = await Deno.readTextFile(join(base, "chat_eval", "sft_model_000003.csv"));
      assertStringIncludes(csv, "ChatCORE");
      // a subset of tasks: no ChatCORE
      const one = await runCliProcess([
        "--base-dir",
        base,
        "eval",
        "chat",
        "-a",
        "ARC-Easy|MMLU",
        "-x",
        "3",
        "--task-data-dir",
        CHAT!,
      ]);
      assertEquals(one.code, 0, one.err);
      assertStringIncludes(one.out, "ChatCORE: not computed");
    }),
});

Deno.test({
  name: "eval chat bad inputs: unknown task, a stage without checkpoints, bad numbers",
  ignore: noShared,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyBaseCheckpoint(base, PRETRAIN!);
      const unknown = await runCliProcess([
        "--base-dir",
        base,
        "eval",
        "chat",
        "-i",
        "base",
        "-a",
        "ARC-Medium",
        "--task-data-dir",
        CHAT!,
      ]);
      assertEquals(unknown.code, 1);
      assertStringIncludes(
        unknown.err,
        'unknown task "ARC-Medium": use one of ARC-Easy, ARC-Challenge, MMLU',
      );
      for (const stage of ["mid", "sft", "rl"]) {
        const none = await runCliProcess([
          "--base-dir",
          base,
          "eval",
          "chat",
          "-i",
          stage,
          "--task-data-dir",
          CHAT!,
        ]);
        assertEquals(none.code, 1);
        assertStringIncludes(none.err, `make one with \`nanochat train ${stage}\``);
      }
      const badN = await runCliProcess([
        "--base-dir",
        base,
        "eval",
        "chat",
        "-i",
        "base",
        "-n",
        "0",
        "--task-data-dir",
        CHAT!,
      ]);
      assertStringIncludes(badN.err, "--num-samples must be a whole number >= 1");
      const badSource = await runCliProcess(["--base-dir", base, "eval", "chat", "-i", "final"]);
      assertEquals(badSource.code, 1);
    }),
});

Deno.test({
  name:
    "train base --core-metric-every: CORE during training and at the end; a missing bundle fails before training",
  ignore: noShared,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyTokenizer(base, PRETRAIN!);
      const train = (extra: string[]) =>
        runCliProcess([
          "--base-dir",
          base,
          ...["train", "base", "--depth", "2", "--max-seq-len", "64", "--device-batch-size", "4"],
          ...[
            "--total-batch-size",
            "256",
            "--sample-every",
            "-1",
            "--eval-every",
            "-1",
            "--num-iterations",
            "3",
          ],
          ...["--data-dir", PRETRAIN!, ...extra],
        ]);
      const bad = await train(["--core-metric-every", "2", "--eval-bundle", join(base, "none")]);
      assertEquals(bad.code, 1);
      assertStringIncludes(bad.err, "does not exist");
      await assertRejects(() => Deno.stat(join(base, "base_checkpoints")), Deno.errors.NotFound);
      const ok = await train([
        "--core-metric-every",
        "2",
        "--core-metric-max-per-task",
        "11",
        "--eval-bundle",
        BUNDLE!,
      ]);
      assertEquals(ok.code, 0, ok.err + ok.out);
      assertEquals(
        [...ok.out.matchAll(/^step (\d+) \| CORE metric: -?\d\.\d{4}$/gm)].map((m) => Number(m[1])),
        [2, 3],
      );
      const report = await Deno.readTextFile(join(base, "report", "base-model-training.md"));
      assert(/^- CORE metric estimate: -?\d\.\d{4}$/m.test(report), report);
    }),
});
