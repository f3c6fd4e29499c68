// Cross-check (not CI): our CORE evaluator and nanochat's own (core_eval.py + gpt.py, PyTorch CPU) on the same
// checkpoint, tokenizer and examples; prints per-task accuracy of both and per-example agreement.
//   deno run -A tests/bench/core_crosscheck.ts [--base-dir DIR] [--model-tag d4] [--max-per-task 50]
// Without --base-dir it first trains a small model on shared/data/pretrain (tokenizer 8192, d4, T=256,
// 60 steps) in a temp dir. Needs $NANOCHAT_REPO, $BENCH_TORCH_PATH (and tiktoken, $BENCH_TIKTOKEN_PATH).
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { checkpointDir, findModelTag, latestCheckpoint } from "../../src/checkpoint/checkpoint.ts";
import { restoreModel } from "../../src/checkpoint/model_io.ts";
import { loadCheckpoint } from "../../src/checkpoint/checkpoint.ts";
import type { GPTConfig } from "../../src/model/config.ts";
import { ComputeContext, GPT } from "../../src/model/mod.ts";
import { Tokenizer } from "../../src/tokenizer/tokenizer.ts";
import { evaluateCore, gptScorer } from "../../src/eval/core.ts";
import { openBundle } from "../../src/eval/core_bundle.ts";
import { runCli } from "../../src/cli/main.ts";
import { runReferenceCore } from "./core_reference.ts";

const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const { values } = parseArgs({
  args: Deno.args,
  options: {
    "base-dir": { type: "string" },
    "model-tag": { type: "string" },
    "max-per-task": { type: "string", default: "50" },
  },
});
const maxPerTask = Number(values["max-per-task"]);
const pretrain = root("../shared/data/pretrain");
const bundle = await openBundle(root("../shared/data/eval_bundle"));

let base = values["base-dir"];
let tmp: string | null = null;
if (!base) {
  tmp = base = await Deno.makeTempDir({ prefix: "nanochat-crosscheck-" });
  console.log(`training a small model in ${base} ...`);
  for (
    const args of [
      ["tokenizer", "train", "--vocab-size", "8192", "--max-chars", "12e6", "--data-dir", pretrain],
      [
        "train",
        "base",
        ...["--depth", "4", "--max-seq-len", "256", "--device-batch-size", "8", "--total-batch-size", "4096"],
        ...[
          "--num-iterations",
          "60",
          "--eval-every",
          "-1",
          "--sample-every",
          "-1",
          "--log-every",
          "20",
          "--data-dir",
          pretrain,
        ],
      ],
    ]
  ) {
    if ((await runCli(["--base-dir", base, ...args])) !== 0) {
      throw new Error(`nanochat ${args.join(" ")} failed`);
    }
  }
}
try {
  const tag = values["model-tag"] ?? await findModelTag(base, "base");
  const dir = checkpointDir(base, "base", tag);
  const info = (await latestCheckpoint(dir))!;
  const ckpt = await loadCheckpoint(dir, info.step, { loadOptim: false });
  const config = (ckpt.meta as { config: GPTConfig }).config;
  const tok = Tokenizer.load(join(base, "tokenizer"));
  const ctx = ComputeContext.create({ threads: 0 });
  const model = GPT.create(ctx, config, { maxBatch: 32 });
  restoreModel(model, ckpt);
  const ours = await evaluateCore(gptScorer(model), tok, bundle, { maxPerTask, quiet: true });
  model.free();
  ctx.destroy();
  tok.free();
  const ref = await runReferenceCore({
    checkpoint: info.modelPath,
    meta: info.metaPath,
    tokenizer_dir: join(base, "tokenizer"),
    bundle: bundle.dir,
    max_per_task: maxPerTask,
    tasks: null,
    threads: navigator.hardwareConcurrency,
  });
  if ("skipped" in ref) {
    console.log(`cross-check skipped (${ref.skipped})`);
  } else {
    console.log(
      `\n${tag} step ${info.step} (${
        JSON.stringify(config)
      }), ${maxPerTask} examples per task, torch ${ref.torch}\n`,
    );
    console.log("| task | examples | ours acc | nanochat acc | agreement |");
    console.log("|---|---:|---:|---:|---:|");
    let same = 0;
    let total = 0;
    for (const r of ref.tasks) {
      const o = ours.tasks.find((t) => t.label === r.label)!;
      const mine = Array.from(o.correct).join("");
      const agree = [...r.correct].filter((c, i) => c === mine[i]).length;
      same += agree;
      total += r.examples;
      const acc = (s: string) => ([...s].filter((c) => c === "1").length / s.length).toFixed(4);
      console.log(
        `| ${r.label} | ${r.examples} | ${acc(mine)} | ${acc(r.correct)} | ${agree}/${r.examples} |`,
      );
    }
    console.log(`\nper-example agreement: ${same}/${total} (${(100 * same / total).toFixed(2)}%)`);
  }
} finally {
  if (tmp) await Deno.remove(tmp, { recursive: true });
}
