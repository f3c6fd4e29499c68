// `nanochat speedrun` on a reduced cpu preset (tiny tokenizer, d2 model, a few steps per stage) over the
// shared offline data: every stage runs, the report card has the summary table for BASE, MID and SFT, a
// rerun skips what its artifacts show is done, --from redoes a stage and what follows, and a missing
// artifact in the middle redoes from there.
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { UserError } from "../src/common/errors.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { planSpeedrun, speedrun, SPEEDRUN_STAGES, type SpeedrunStage, stagesToRun } from "../speedrun.ts";
import { SPEEDRUN_PRESETS, type SpeedrunPreset } from "../src/train/stage_defaults.ts";
import { runCliCaptured, withTempDir } from "./helpers.ts";

const SHARED = fileURLToPath(new URL("../../shared/data", import.meta.url));
const hasShared = (() => {
  try {
    return Deno.statSync(join(SHARED, "pretrain")).isDirectory &&
      Deno.statSync(join(SHARED, "chat")).isDirectory;
  } catch {
    return false;
  }
})();

/** The cpu preset cut down to seconds per stage. */
const REDUCED: SpeedrunPreset = {
  ...SPEEDRUN_PRESETS.cpu,
  vocabSize: 512,
  maxChars: 300_000,
  base: {
    depth: 2,
    maxSeqLen: 64,
    deviceBatchSize: 4,
    totalBatchSize: 256,
    numIterations: 20,
    evalEvery: 10,
    evalTokens: 1024,
    sampleEvery: -1,
    logEvery: 10,
  },
  baseEval: { deviceBatchSize: 4, splitTokens: 1024, maxPerTask: 11 },
  mid: {
    maxSeqLen: 64,
    deviceBatchSize: 4,
    totalBatchSize: 256,
    numIterations: 8,
    evalEvery: 4,
    evalTokens: 1024,
  },
  sft: {
    deviceBatchSize: 4,
    targetExamplesPerStep: 8,
    numIterations: 6,
    evalEvery: 3,
    evalSteps: 2,
    evalMetricsEvery: 6,
    evalMetricsMaxProblems: 4,
  },
  rl: {
    deviceBatchSize: 2,
    examplesPerStep: 2,
    numSamples: 2,
    maxNewTokens: 8,
    numSteps: 2,
    evalEvery: 2,
    evalExamples: 2,
  },
  chatEval: { maxProblems: 2, maxNewTokens: 8, batchSize: 4 },
};

async function run(base: string, from?: SpeedrunStage, rl = false) {
  const logs: string[] = [];
  const result = await speedrun({
    baseDir: base,
    preset: REDUCED,
    dataDir: SHARED,
    rl,
    from,
    device: "cpu",
    threads: 0,
    run: async (args) => {
      const r = await runCliCaptured(["--base-dir", base, ...args]);
      logs.push(r.out, r.err);
      if (r.code !== 0) console.error(r.out.slice(-2000), r.err);
      return r.code;
    },
  });
  return { ...result, logs: logs.join("\n") };
}

Deno.test({
  name:
    "speedrun: the reduced cpu preset runs every stage, writes the report card, and resumes from artifacts",
  ignore: !hasShared,
  fn: () =>
    withTempDir(async (base) => {
      const first = await run(base);
      // every stage in the order --from names them, but data (local shards) and RL (not asked for)
      const expected = SPEEDRUN_STAGES.filter((s) => s !== "data" && s !== "rl" && s !== "rl-eval");
      assertEquals(first.ran, expected, first.logs);
      assertEquals(first.skipped, ["data"]);
      const report = Deno.readTextFileSync(join(base, "report", "report.md"));
      assertStringIncludes(report, "## Summary");
      const row = (metric: string) => report.split("\n").find((l) => l.startsWith(`| ${metric} `))!;
      // CORE for BASE; the chat metrics for MID and SFT, none for RL
      assert(/^\| CORE +\| +-?\d\.\d{4} /.test(row("CORE")), row("CORE"));
      const cells = row("ARC-Easy").split("|").map((c) => c.trim());
      assertEquals(cells[2], "-");
      assert(/^-?\d\.\d{4}$/.test(cells[3]) && /^-?\d\.\d{4}$/.test(cells[4]), row("ARC-Easy"));
      assertEquals(cells[5], "-");

      const again = await run(base);
      assertEquals(again.ran, ["report"]);

      const fromSft = await run(base, "sft");
      assertEquals(fromSft.ran, ["sft", "sft-eval", "report"]);

      // a stage's artifact gone: it and everything after it are redone
      Deno.removeSync(join(base, "report", "chat-evaluation-mid.md"));
      const redo = await run(base);
      assertEquals(redo.ran, ["mid-eval", "sft", "sft-eval", "report"]);

      // --rl on a finished run adds only RL, its GSM8K evaluation, and the report
      const withRl = await run(base, undefined, true);
      assertEquals(withRl.ran, ["rl", "rl-eval", "report"], withRl.logs);
      const rlRow = Deno.readTextFileSync(join(base, "report", "report.md")).split("\n")
        .find((l) => l.startsWith("| GSM8K "))!;
      assert(/^-?\d(\.\d{4})?$/.test(rlRow.split("|").map((c) => c.trim())[5]), rlRow);
    }),
});

Deno.test("speedrun plan: a stage is done only when its artifact is newer than the one before it", async () => {
  const stage = (name: SpeedrunStage, at: number | null) => ({
    name,
    title: name,
    args: [name],
    doneAt: () => Promise.resolve(at),
  });
  const plan = [stage("data", 0), stage("tokenizer", 10), stage("tokenizer-eval", 20), stage("base", 15)];
  // base's checkpoint is older than the tokenizer evaluation: base is redone
  assertEquals(await stagesToRun([...plan, stage("report", null)]), [false, false, false, true, true]);
  assertEquals(await stagesToRun([plan[0], plan[1], plan[2]]), [false, false, false]);
  // a missing artifact redoes everything from there, even newer ones after it
  assertEquals(await stagesToRun([plan[0], stage("tokenizer", null), plan[2]]), [false, true, true]);
  assertEquals(await stagesToRun(plan.slice(0, 3), "tokenizer-eval"), [false, false, true]);
  await assertRejects(() => stagesToRun(plan, "rl"), UserError, "add --rl");
});

Deno.test("speedrun plan: d20 runs every training and evaluation stage on 8 processes", async () => {
  const plan = await planSpeedrun({
    baseDir: "/nonexistent",
    preset: "d20",
    rl: true,
    device: "auto",
    threads: 0,
  });
  const nproc = (name: SpeedrunStage) => {
    const args = plan.find((s) => s.name === name)!.args;
    const i = args.indexOf("--nproc-per-node");
    return i < 0 ? 1 : Number(args[i + 1]);
  };
  for (const name of ["base", "base-eval", "mid", "mid-eval", "sft", "sft-eval", "rl", "rl-eval"] as const) {
    assertEquals(nproc(name), 8, name);
  }
  assertEquals(plan.find((s) => s.name === "base")!.args.slice(0, 4), ["train", "base", "--depth", "20"]);
  assertEquals(plan.find((s) => s.name === "data")!.args, ["data", "download", "-n", "240"]);
  const cpu = await planSpeedrun({
    baseDir: "/nonexistent",
    preset: "cpu",
    rl: false,
    device: "cpu",
    threads: 0,
  });
  assert(cpu.every((s) => !s.args.includes("--nproc-per-node")));
});
