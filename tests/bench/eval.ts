// `deno task bench:eval`: CORE examples per second on d4 and d8 (T=1024, vocab 8192 as the README's CPU run,
// $BENCH_VOCAB to change; seeded random weights; $BENCH_MAX_PER_TASK examples per task, default 11),
// ours side by side with nanochat's own evaluator (core_eval.py + gpt.py in PyTorch CPU) on the same weights,
// tokenizer and examples, with GFLOP/s of the forward passes against the machine's measured SGEMM peak; then
// a paper estimate of a full CORE run of d20 on one H100. nanochat's code comes from $NANOCHAT_REPO, torch from
// $BENCH_TORCH_PATH, tiktoken from $BENCH_TIKTOKEN_PATH; without them that column says "skipped (why)".
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { configFromDepth, countParams, flopsPerToken, type GPTConfig } from "../../src/model/config.ts";
import { ComputeContext, GPT } from "../../src/model/mod.ts";
import { metaFile, modelFile, saveCheckpoint } from "../../src/checkpoint/checkpoint.ts";
import { modelTensors } from "../../src/checkpoint/model_io.ts";
import { iterTrainingText } from "../../src/data/parquet.ts";
import { Tokenizer } from "../../src/tokenizer/tokenizer.ts";
import { type CoreTokenizer, evaluateCore, gptScorer, type SequenceScorer } from "../../src/eval/core.ts";
import { openBundle, readTaskData } from "../../src/eval/core_bundle.ts";
import { runReferenceCore } from "./core_reference.ts";

const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const T = 1024; // nanochat's CPU run (dev/runcpu.sh) trains d4 at max_seq_len 1024
const VOCAB = Number(Deno.env.get("BENCH_VOCAB") ?? "8192");
const ROWS = 32;
const MAX_PER_TASK = Number(Deno.env.get("BENCH_MAX_PER_TASK") ?? "11");
const threads = navigator.hardwareConcurrency;
const bundle = await openBundle(root("../shared/data/eval_bundle"));

/** Wraps a scorer to count the tokens it forwards (padding included; a shared prefix once). */
function counting(s: SequenceScorer) {
  const c = { tokens: 0, scorer: { ...s } as SequenceScorer };
  c.scorer.score = (inputs, targets, B, T) => {
    c.tokens += B * T;
    return s.score(inputs, targets, B, T);
  };
  c.scorer.scoreContinuations = (prefix, conts) => {
    c.tokens += prefix.length + conts.reduce((n, x) => n + Math.max(0, x.length - 1), 0);
    return s.scoreContinuations!(prefix, conts);
  };
  return c;
}

/** Forward FLOPs per token: a third of the training estimate (6N + attention). */
const forwardFlops = (c: GPTConfig) => flopsPerToken(c) / 3;

const work = await Deno.makeTempDir({ prefix: "nanochat-bench-eval-" });
try {
  const tok = await Tokenizer.train(
    iterTrainingText({ dataDir: root("../shared/data/pretrain"), maxChars: 12e6, docCap: 10_000 }),
    {
      vocabSize: VOCAB,
    },
  );
  tok.save(join(work, "tokenizer"));

  const native = await new Deno.Command(root("kernels/build/nanochat_bench"), {
    args: ["--depths", "2", "--seq", "64", "--steps", "1", "--json"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const nativeJson = JSON.parse(new TextDecoder().decode(native.stdout).trim().split("\n").pop()!);
  const peak = Math.max(nativeJson.sgemm_gflops_before, nativeJson.sgemm_gflops_after) * 1e9;
  console.log(
    `machine: ${threads} cores (shared with other work: numbers are noisy); measured fp32 SGEMM peak ` +
      `${
        (peak / 1e9).toFixed(1)
      } GFLOP/s\nCORE: ${bundle.tasks.length} tasks, ${MAX_PER_TASK} examples each ` +
      `(Random(1337) order), T=${T}, vocab ${VOCAB}, ours packs up to ${ROWS} sequences per forward\n`,
  );
  console.log(
    "| model | examples | ours ex/s | ours GFLOP/s (% peak) | nanochat PyTorch ex/s | ours / PyTorch | agreement |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const depth of [4, 8]) {
    const config = configFromDepth(depth, VOCAB, T);
    const ctx = ComputeContext.create({ threads: 0 });
    const model = GPT.create(ctx, config, { maxBatch: ROWS });
    model.initWeights(1);
    const dir = join(work, `d${depth}`);
    await saveCheckpoint(dir, 0, { model: modelTensors(model), meta: { step: 0, config } });
    // warm-up on one small task, then the timed run
    await evaluateCore(gptScorer(model), tok, bundle, { maxPerTask: 4, only: ["copa"], quiet: true });
    const c = counting(gptScorer(model));
    const t0 = performance.now();
    const ours = await evaluateCore(c.scorer, tok as CoreTokenizer, bundle, {
      maxPerTask: MAX_PER_TASK,
      quiet: true,
    });
    const secs = (performance.now() - t0) / 1000;
    model.free();
    ctx.destroy();
    const examples = ours.tasks.reduce((s, t) => s + t.examples, 0);
    const gflops = (c.tokens * forwardFlops(config)) / secs;
    const ref = await runReferenceCore({
      checkpoint: join(dir, modelFile(0)),
      meta: join(dir, metaFile(0)),
      tokenizer_dir: join(work, "tokenizer"),
      bundle: bundle.dir,
      max_per_task: MAX_PER_TASK,
      tasks: null,
      threads,
    });
    let refCol = "skipped";
    let ratio = "-";
    let agree = "-";
    if ("skipped" in ref) refCol = `skipped (${ref.skipped})`;
    else {
      const refSecs = ref.tasks.reduce((s, t) => s + t.seconds, 0);
      refCol = (examples / refSecs).toFixed(1);
      ratio = `${(refSecs / secs).toFixed(2)}x`;
      const mine = new Map(ours.tasks.map((t) => [t.label, Array.from(t.correct).join("")]));
      let same = 0;
      for (const t of ref.tasks) {
        for (let i = 0; i < t.correct.length; i++) if (mine.get(t.label)![i] === t.correct[i]) same++;
      }
      agree = `${same}/${examples}`;
    }
    console.log(
      `| d${depth} (${(countParams(config).total / 1e6).toFixed(1)}M) | ${examples} | ${
        (examples / secs).toFixed(1)
      } | ` +
        `${(gflops / 1e9).toFixed(1)} (${
          (100 * gflops / peak).toFixed(0)
        }%) | ${refCol} | ${ratio} | ${agree} |`,
    );
  }

  // ---- paper estimate: every row of the bundle through d20 (T=2048) on one H100
  const d20 = configFromDepth(20, 65536, 2048);
  const dry = { tokens: 0 };
  const dryScorer: SequenceScorer = {
    maxRows: ROWS,
    maxLen: 2048,
    score: (_i, _t, B, T) => {
      dry.tokens += B * T;
      return Promise.resolve({ losses: new Float32Array(B * T), argmax: new Int32Array(B * T) });
    },
    // the shared prefix once, then one decode step per continuation token and option
    scoreContinuations: (prefix, conts) => {
      dry.tokens += prefix.length + conts.reduce((s, c) => s + Math.max(0, c.length - 1), 0);
      return Promise.resolve(conts.map((c) => new Float64Array(c.length)));
    },
  };
  const sample = 200;
  let allRows = 0;
  let sampledRows = 0;
  for (const t of bundle.tasks) {
    const n = (await readTaskData(bundle, t)).length;
    allRows += n;
    sampledRows += Math.min(n, sample);
  }
  // token counts with a 65536-token vocabulary, as nanochat's d20 uses
  const tok65k = await Tokenizer.train(
    iterTrainingText({ dataDir: root("../shared/data/pretrain"), maxChars: 12e6, docCap: 10_000 }),
    {
      vocabSize: 65536,
    },
  );
  await evaluateCore(dryScorer, tok65k, bundle, { maxPerTask: sample, quiet: true });
  tok65k.free();
  const tokensAll = dry.tokens * (allRows / sampledRows);
  const flopsAll = tokensAll * forwardFlops(d20);
  const h100 = 989e12; // dense bf16 peak (SXM)
  console.log(
    `\nd20 (${(countParams(d20).total / 1e6).toFixed(0)}M params, T=2048), all ${
      allRows.toLocaleString("en-US")
    } rows of ` +
      `the ${bundle.tasks.length} bundle tasks: about ${
        (tokensAll / 1e6).toFixed(0)
      }M tokens forwarded (padding ` +
      `included, measured by packing a ${sample}-row sample per task), ${
        (flopsAll / 1e15).toFixed(0)
      } PFLOP at ` +
      `${(forwardFlops(d20) / 1e9).toFixed(2)} GFLOP/token.\nOn one H100 (989 TFLOP/s bf16): ${
        (flopsAll / h100).toFixed(0)
      } s at ` +
      `100% MFU, ${(flopsAll / (0.4 * h100) / 60).toFixed(1)} min at 40% MFU (plus the head's softmax and ` +
      `argmax, small next to the GEMMs).`,
  );
  tok.free();
} finally {
  await Deno.remove(work, { recursive: true });
}
