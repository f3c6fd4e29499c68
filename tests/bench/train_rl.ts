// The RL row of `deno task bench:train`: one `nanochat train rl` step (src/train/rl_step.ts: rollouts through
// the in-library sampling, rewards, the weighted policy-gradient backward, Muon + AdamW) on real GSM8K train
// prompts, against the same loop in PyTorch CPU on the same model (train_rl_reference_torch.py), in
// rollouts/s and sampled tokens/s. The model is freshly initialized, so it would earn no reward and every
// advantage would be 0 (our loop then skips the backward): the bench's task rewards a completion by the
// parity of the sum of its character codes instead (not its length: a fresh model's zero lm_head makes
// top-k pick 50 one-character byte tokens, so every completion is 32 characters long), which keeps the
// advantages nonzero, as a learning run's are; the step checks that every backward pass ran.
// The PyTorch side samples exactly NEW_TOKENS per row with the mean prompt length of ours; a row of ours that
// draws <|assistant_end|> stops early, so the tokens/s columns count the tokens each side really sampled.
import { fileURLToPath } from "node:url";
import { iterTrainingText } from "../../src/data/parquet.ts";
import { Engine } from "../../src/engine/engine.ts";
import { configFromDepth } from "../../src/model/config.ts";
import { ComputeContext, GPT } from "../../src/model/mod.ts";
import { renderForCompletion } from "../../src/tokenizer/render.ts";
import { Tokenizer } from "../../src/tokenizer/tokenizer.ts";
import type { RewardTask, RolloutSettings } from "../../src/train/rl_rollout.ts";
import { problemIndex, rlStep } from "../../src/train/rl_step.ts";
import { GSM8K } from "../../tasks/mod.ts";
import { sharedChatDir, sharedPretrainDir } from "../helpers.ts";

/** The row's settings: a d4 model, 2 problems x 16 samples in passes of 8, 32 new tokens per sample. */
const DEPTH = 4;
const VOCAB = 4096;
const SEQ_LEN = 1024;
const PROBLEMS = 2;
const SAMPLES = 16;
const DEVICE_BATCH = 8;
const NEW_TOKENS = 32;

/** Prints the RL table (its own header); `steps` timed steps after a warm-up, best of them. */
export async function rlRow(o: { steps: number; threads: number; torchPath: string }): Promise<void> {
  const chat = sharedChatDir();
  const pretrain = sharedPretrainDir();
  if (chat === null || pretrain === null) {
    console.log("\nRL row skipped: it needs ../shared/data/chat (GSM8K) and ../shared/data/pretrain");
    return;
  }
  const tokenizer = await Tokenizer.train(
    iterTrainingText({ dataDir: pretrain, maxChars: 2_000_000, docCap: 10_000 }),
    {
      vocabSize: VOCAB,
    },
  );
  const gsm8k = await GSM8K.load({ dataDir: chat, split: "train", quiet: true });
  const task: RewardTask = {
    size: gsm8k.size,
    get: (i) => gsm8k.get(i),
    reward: (_conversation, completion) => [...completion].reduce((a, c) => a + c.charCodeAt(0), 0) % 2,
  };
  const config = configFromDepth(DEPTH, VOCAB, SEQ_LEN);
  const ctx = ComputeContext.create({ threads: 0, seed: 1 });
  const model = GPT.create(ctx, config, { maxBatch: DEVICE_BATCH });
  model.initWeights(1);
  const engine = new Engine(model, tokenizer);
  const settings: RolloutSettings = {
    numSamples: SAMPLES,
    deviceBatchSize: DEVICE_BATCH,
    maxNewTokens: NEW_TOKENS,
    temperature: 1,
    topK: 50,
    contextLen: SEQ_LEN,
    seed: 42,
  };
  // every step reuses the same problems (as the reference does), so the steps do the same work
  const timed: { seconds: number; sequences: number; sampled: number }[] = [];
  for (let s = 0; s <= o.steps; s++) {
    const t0 = performance.now();
    const r = await rlStep({
      model,
      engine,
      tokenizer,
      task,
      step: 0,
      examplesPerStep: PROBLEMS,
      settings,
      optim: { lrUnembed: 0.0002, lrEmbed: 0.01, lrMatrix: 0.001, muonMomentum: 0.95 },
    });
    for (let e = 0; e < PROBLEMS; e++) {
      const group = r.rewards.slice(e * SAMPLES, (e + 1) * SAMPLES);
      if (group.every((x) => x === group[0])) {
        throw new Error("a group with equal rewards: its backward was skipped");
      }
    }
    if (s > 0) {
      timed.push({
        seconds: (performance.now() - t0) / 1000,
        sequences: r.rewards.length,
        sampled: r.sampledTokens,
      });
    }
  }
  const promptLen = Math.round(
    Array.from(
      { length: PROBLEMS },
      (_, e) => renderForCompletion(tokenizer, gsm8k.get(problemIndex(0, e, PROBLEMS, gsm8k.size))).length,
    )
      .reduce((a, b) => a + b, 0) / PROBLEMS,
  );
  model.free();
  ctx.destroy();
  tokenizer.free();
  const best = timed.reduce((a, b) => (b.seconds < a.seconds ? b : a));

  const script = fileURLToPath(new URL("./train_rl_reference_torch.py", import.meta.url));
  const args = [
    DEPTH,
    VOCAB,
    SEQ_LEN,
    promptLen,
    PROBLEMS,
    SAMPLES,
    DEVICE_BATCH,
    NEW_TOKENS,
    o.steps,
    o.threads,
  ];
  const torch = await new Deno.Command("python3", {
    args: [script, ...args.map(String)],
    // a busy-waiting OpenMP (PyTorch's default) runs ~10x slower on a shared, oversubscribed machine (measured
    // on the 2-core build machine at load 6); passive waiting keeps the comparison about the loop
    env: { PYTHONPATH: o.torchPath, OMP_WAIT_POLICY: "PASSIVE" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  let ref: { step_seconds_best: number; sequences: number; sampled_tokens: number } | null = null;
  if (torch.success) ref = JSON.parse(new TextDecoder().decode(torch.stdout).trim().split("\n").pop()!);

  const load = (await Deno.readTextFile("/proc/loadavg")).split(" ")[0];
  console.log(
    `\nRL step (\`nanochat train rl\`'s loop): d${DEPTH}, vocab ${VOCAB}, ${PROBLEMS} GSM8K prompts (mean ` +
      `${promptLen} tokens) x ${SAMPLES} samples in passes of ${DEVICE_BATCH}, up to ${NEW_TOKENS} new tokens, ` +
      `T=1 top-k 50, weighted backward + Muon/AdamW; best of ${o.steps} steps after a warm-up; load average ${load}\n`,
  );
  console.log(
    "| model | ours step s | ours rollouts/s | ours sampled tok/s | PyTorch step s | PyTorch rollouts/s | " +
      "PyTorch sampled tok/s | ours / PyTorch (rollouts/s) |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
  const oursRoll = best.sequences / best.seconds;
  const cells = ref
    ? [
      ref.step_seconds_best.toFixed(2),
      (ref.sequences / ref.step_seconds_best).toFixed(2),
      Math.round(ref.sampled_tokens / ref.step_seconds_best),
      `${(oursRoll / (ref.sequences / ref.step_seconds_best)).toFixed(2)}x`,
    ]
    : ["skipped: pip install torch", "-", "-", "-"];
  console.log(
    `| d${DEPTH} | ${best.seconds.toFixed(2)} | ${oursRoll.toFixed(2)} | ${
      Math.round(best.sampled / best.seconds)
    } | ` +
      `${cells.join(" | ")} |`,
  );
}

// `deno run -A tests/bench/train_rl.ts` runs this row alone
if (import.meta.main) {
  await rlRow({
    steps: Number(Deno.env.get("BENCH_STEPS") ?? "3"),
    threads: navigator.hardwareConcurrency,
    torchPath: Deno.env.get("BENCH_TORCH_PATH") ?? "",
  });
}
