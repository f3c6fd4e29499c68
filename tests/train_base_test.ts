// `nanochat train base` end to end on the shared shards with a tiny model: falling validation bpb,
// identical losses for the same seed, exact resume, Ctrl-C saving, and bad inputs.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { join } from "node:path";
import { listCheckpoints } from "../src/checkpoint/checkpoint.ts";
import {
  makeTinyTokenizer,
  runCliProcess,
  runCliUntil,
  sharedPretrainDir,
  tinyBaseTrainArgs,
  withTempDir,
} from "./helpers.ts";
import { stepLosses } from "./stage_helpers.ts";

const SHARED = sharedPretrainDir();

// a tiny model: d2 (width 128, one head), T 64, 2 micro-batches of 4 rows per step
const TINY = tinyBaseTrainArgs(64, 4, 512, "--eval-tokens", "2048");

function valBpbs(out: string): number[] {
  return [...out.matchAll(/validation bpb: ([\d.]+)/g)].map((m) => Number(m[1]));
}

async function train(base: string, extra: string[]) {
  const res = await runCliProcess(["--base-dir", base, ...TINY, "--data-dir", SHARED!, ...extra]);
  assertEquals(res.code, 0, res.err + res.out);
  return res;
}

Deno.test({
  name: "train base: validation bpb falls and checkpoints are written",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyTokenizer(base, SHARED!, 300_000);
      const { out } = await train(base, [
        "--num-iterations",
        "30",
        "--eval-every",
        "15",
        "--matrix-lr",
        "0.05",
      ]);
      const bpb = valBpbs(out);
      assertEquals(bpb.length, 3, out);
      assert(bpb[2] < bpb[0] - 0.1, `val bpb should fall: ${bpb.join(" -> ")}`);
      const ckpts = await listCheckpoints(join(base, "base_checkpoints", "d2"));
      assertEquals(ckpts.map((c) => c.step), [30]);
      assertStringIncludes(
        Deno.readTextFileSync(join(base, "report", "base-model-training.md")),
        "Final validation bpb",
      );

      const evaluation = await runCliProcess([
        "--base-dir",
        base,
        "eval",
        "base",
        "--device-batch-size",
        "4",
        "--split-tokens",
        "2048",
        "--data-dir",
        SHARED!,
      ]);
      assertEquals(evaluation.code, 0, evaluation.err);
      assert(/d2 step 30: val bpb [\d.]+/.test(evaluation.out), evaluation.out);
    }),
});

Deno.test({
  name: "train base: same seed gives identical losses; stop + resume reproduces the uninterrupted run",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyTokenizer(base, SHARED!, 300_000);
      const flags = ["--num-iterations", "6", "--eval-every", "-1"];
      const full = stepLosses((await train(base, [...flags, "--model-tag", "full"])).out);
      assertEquals(full.size, 6);
      const again = stepLosses((await train(base, [...flags, "--model-tag", "again"])).out);
      assertEquals(again, full);

      const first = await train(base, [...flags, "--model-tag", "split", "--stop-after", "3"]);
      assertEquals([...stepLosses(first.out).keys()], [0, 1, 2]);
      const second = await train(base, [...flags, "--model-tag", "split", "--resume"]);
      assertStringIncludes(second.out, "resumed from");
      const resumed = stepLosses(second.out);
      assertEquals([...resumed.keys()], [3, 4, 5]);
      for (const [step, loss] of resumed) assertEquals(loss, full.get(step), `step ${step}`);
    }),
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test({
    name: `train base: ${signal} finishes the step, saves, and exits cleanly`,
    ignore: SHARED === null,
    fn: () =>
      withTempDir(async (base) => {
        await makeTinyTokenizer(base, SHARED!, 300_000);
        const { code, out } = await runCliUntil(
          ["--base-dir", base, ...TINY, "--data-dir", SHARED!, "--num-iterations", "1000"],
          /^step 00002\//m,
          signal,
        );
        assertEquals(code, 0, out);
        assertStringIncludes(out, "saved checkpoint");
        const ckpts = await listCheckpoints(join(base, "base_checkpoints", "d2"));
        assertEquals(ckpts.length, 1);
        assert(ckpts[0].step >= 3 && ckpts[0].step < 1000, `saved at step ${ckpts[0].step}`);
      }),
  });
}

Deno.test({
  name: "train base: nanochat's defaults on this CPU print the estimate and a warning before the first step",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyTokenizer(base, SHARED!, 300_000);
      // d20, T 2048, 524,288 tokens per step: the estimate comes before the model is even allocated
      const { out } = await runCliUntil(
        ["--base-dir", base, "train", "base", "--device", "cpu", "--data-dir", SHARED!],
        /^warning: .*\n/m,
        "SIGKILL",
      );
      assert(/^estimate: ~\d+h\d+m per step/m.test(out) || /^estimate: ~\d+m\d+s per step/m.test(out), out);
      assertStringIncludes(out, "warning: about");
      assertStringIncludes(out, "--device cuda");
      assertStringIncludes(out, "smaller model (--depth");
      assert(!/^step 0/m.test(out), out);
    }),
});

Deno.test({
  name: "train base: bad inputs give clear errors and overwrite nothing",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyTokenizer(base, SHARED!, 300_000);
      const cases: [string[], string][] = [
        [["--depth", "5"], "not divisible by 3 heads"],
        [["--total-batch-size", "1000"], "--total-batch-size"],
        [["--max-seq-len", "0"], "--max-seq-len must be at least 1"],
      ];
      for (const [flags, message] of cases) {
        const res = await runCliProcess(["--base-dir", base, ...TINY, "--data-dir", SHARED!, ...flags]);
        assertEquals(res.code, 1, `${flags.join(" ")}: ${res.out}`);
        assertStringIncludes(res.err, message);
      }
      // a truncated checkpoint is refused on --resume and left as it was
      await train(base, ["--num-iterations", "2", "--eval-every", "-1"]);
      const model = join(base, "base_checkpoints", "d2", "model_000002.safetensors");
      const bytes = Deno.readFileSync(model);
      Deno.writeFileSync(model, bytes.subarray(0, bytes.length - 100));
      const res = await runCliProcess([
        "--base-dir",
        base,
        ...TINY,
        "--data-dir",
        SHARED!,
        "--num-iterations",
        "4",
        "--resume",
      ]);
      assertEquals(res.code, 1, res.out);
      assertStringIncludes(res.err, "safetensors");
      assertEquals(Deno.readFileSync(model).length, bytes.length - 100);
    }),
});
