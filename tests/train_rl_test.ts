// `nanochat train rl` end to end with a tiny model on a synthetic GSM8K-format task: the mean reward rises,
// a stopped and resumed run reproduces the uninterrupted one exactly, SIGTERM saves and exits 0, and bad
// inputs (no SFT checkpoint, an RL run already there) are clear errors that write nothing.
//
// The task, and why it is honest for a test budget: every problem asks for "the lucky number", the GSM8K
// answer format ("... #### k") is kept, and the reference answer is always 3. A tiny model (d2, 512-token
// vocabulary) is first SFT'd here for a few seconds on the same format with k drawn uniformly from 1..4, so
// it writes well-formed answers with each k about equally often: the starting reward is about 0.25, never 0
// (RL needs some rewarded samples to learn from) and never 1. Real GSM8K is out of reach of a model this
// size in seconds on 2 cores; what this checks is the RL machinery itself: rollouts, exact "####" rewards,
// advantages, the weighted policy-gradient backward and the optimizer steps move probability towards the
// rewarded answer. The pass@k evaluation runs on held-out problems (the test split's questions differ).
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { checkpointDir, listCheckpoints, saveCheckpoint } from "../src/checkpoint/checkpoint.ts";
import { modelTensors } from "../src/checkpoint/model_io.ts";
import { configFromDepth } from "../src/model/config.ts";
import { ComputeContext, GPT } from "../src/model/mod.ts";
import { renderConversation } from "../src/tokenizer/render.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { makeTinyTokenizer, runCliProcess, sharedPretrainDir, torchrunEnv, withTempDir } from "./helpers.ts";
import { Rng } from "./rng.ts";
import { rolloutSeed, trainingPasses } from "../src/train/rl_rollout.ts";
import { planSpeedrun } from "../speedrun.ts";
import { freePort } from "./dist/util.ts";

const SHARED = sharedPretrainDir();
const SEQ_LEN = 48;
const LUCKY = 3;

function question(i: number): string {
  return `Q${i}: the lucky number?`;
}

function answer(k: number): string {
  return `It is\n#### ${k}`;
}

/**
 * GSM8K-format files in a task-data folder: train problems 0..99 plus one whose prompt alone is longer than
 * the model's context (RL skips it), held-out test problems 1000..1031.
 */
async function writeTaskData(dir: string): Promise<void> {
  const rows = (from: number, n: number) =>
    Array.from(
      { length: n },
      (_, i) => JSON.stringify({ question: question(from + i), answer: answer(LUCKY) }),
    )
      .join("\n") + "\n";
  await Deno.mkdir(dir, { recursive: true });
  const long = JSON.stringify({ question: question(7).repeat(10), answer: answer(LUCKY) });
  await Deno.writeTextFile(join(dir, "gsm8k_train.jsonl"), rows(0, 100) + long + "\n");
  await Deno.writeTextFile(join(dir, "gsm8k_test.jsonl"), rows(1000, 32));
}

/** A d2 model SFT'd on the format with a uniformly random answer 1..4, saved as chatsft_checkpoints/d2. */
async function makeSftCheckpoint(base: string): Promise<void> {
  const tok = Tokenizer.load(join(base, "tokenizer"));
  const config = configFromDepth(2, tok.vocabSize, SEQ_LEN);
  const ctx = ComputeContext.create({ device: "cpu", threads: 2, seed: 1 });
  const B = 8;
  const model = GPT.create(ctx, config, { maxBatch: B });
  try {
    model.initWeights(7);
    const rng = new Rng(11);
    const steps = 60;
    for (let step = 0; step < steps; step++) {
      const rendered = Array.from({ length: B }, () => {
        const k = 1 + Math.floor(rng.next() * 4);
        return renderConversation(tok, {
          messages: [
            { role: "user", content: question(Math.floor(rng.next() * 2000)) },
            { role: "assistant", content: answer(k) },
          ],
        });
      });
      const T = Math.max(...rendered.map((r) => r.ids.length)) - 1;
      const inputs = new Int32Array(B * T).fill(tok.bosId);
      const targets = new Int32Array(B * T).fill(-1);
      rendered.forEach((r, b) => {
        for (let t = 0; t + 1 < r.ids.length; t++) {
          inputs[b * T + t] = r.ids[t];
          if (r.mask[t + 1] === 1) targets[b * T + t] = r.ids[t + 1];
        }
      });
      await model.backward(inputs, targets, B, T, 1);
      const lrm = 1 - step / steps;
      await model.optimStep({
        lrUnembed: 0.02 * lrm,
        lrEmbed: 0.5 * lrm,
        lrMatrix: 0.05 * lrm,
        muonMomentum: 0.9,
      });
      model.zeroGrad();
    }
    await saveCheckpoint(checkpointDir(base, "sft", "d2"), steps, {
      model: modelTensors(model),
      meta: { step: steps, config, modelTag: "d2" },
    });
  } finally {
    model.free();
    ctx.destroy();
    tok.free();
  }
}

/** A base dir with the tiny tokenizer, the SFT checkpoint and the task data (returns the data folder). */
async function setup(base: string): Promise<string> {
  await makeTinyTokenizer(base, SHARED!);
  await makeSftCheckpoint(base);
  const data = join(base, "task_data_synthetic");
  await writeTaskData(data);
  return data;
}

// 4 problems x 8 samples per step in one pass of 8 rows; 25 steps over the 100 training problems
const TINY = [
  "train",
  "rl",
  "--device-batch-size",
  "8",
  "--examples-per-step",
  "4",
  "--num-samples",
  "8",
  "--max-new-tokens",
  "16",
  "--eval-examples",
  "8",
  "--threads",
  "2",
];

function rewards(out: string): Map<number, number> {
  const m = new Map<number, number>();
  for (const r of out.matchAll(/^step (\d+)\/\d+ .*\| mean reward: ([\d.]+) \|/gm)) {
    m.set(Number(r[1]), Number(r[2]));
  }
  return m;
}

function losses(out: string): Map<number, string> {
  const m = new Map<number, string>();
  for (const r of out.matchAll(/^step (\d+)\/\d+ .*\| loss: (-?[\d.]+) \|/gm)) m.set(Number(r[1]), r[2]);
  return m;
}

async function rl(base: string, data: string, extra: string[]) {
  const res = await runCliProcess(["--base-dir", base, ...TINY, "--task-data-dir", data, ...extra]);
  assertEquals(res.code, 0, res.err + res.out);
  return res;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

Deno.test({
  name: "train rl: the mean reward rises, pass@k is measured, the report section and metrics are written",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (base) => {
      const data = await setup(base);
      const { out } = await rl(base, data, [
        "--init-lr-frac",
        "1",
        "--eval-every",
        "12",
        "--save-every",
        "-1",
      ]);
      const r = [...rewards(out).values()];
      assertEquals(r.length, 25, out);
      assertEquals(
        [...out.matchAll(/skipped 1 problem\(s\) whose prompt fills the context of 48 tokens/g)].length,
        1,
      );
      const first = r[0];
      const lastR = mean(r.slice(-5));
      assert(first > 0.05 && first < 0.6, `the SFT model should be right sometimes: ${r.join(" ")}`);
      assert(lastR > first + 0.4, `the mean reward should rise: ${first.toFixed(3)} -> ${lastR.toFixed(3)}`);
      assertEquals([...out.matchAll(/pass@1: [\d.]+, pass@2/g)].length, 4, out); // steps 0, 12, 24 and 25
      const [ckpt] = await listCheckpoints(checkpointDir(base, "rl", "d2"));
      assertEquals(ckpt.step, 25);
      const meta = JSON.parse(Deno.readTextFileSync(ckpt.metaPath));
      assertEquals([meta.final, meta.source], [true, { stage: "sft", tag: "d2", step: 60 }]);
      const section = Deno.readTextFileSync(join(base, "report", "chat-rl.md"));
      assertStringIncludes(section, "Last step mean reward");
      const metrics = Deno.readTextFileSync(join(base, "report", "metrics-rl.jsonl"));
      assertStringIncludes(metrics, `"reward/mean"`);
      assertStringIncludes(metrics, `"pass@k/pass@8"`);
      // `nanochat report` plots the RL reward from those series
      const report = await runCliProcess(["--base-dir", base, "report", "generate", "--no-copy"]);
      assertEquals(report.code, 0, report.err);
      const svg = Deno.readTextFileSync(join(base, "report", "report-plots", "rl-reward.svg"));
      assertStringIncludes(svg, "RL: reward");
      assertStringIncludes(Deno.readTextFileSync(join(base, "report", "report.md")), "rl-reward.svg");
    }),
});

Deno.test({
  name: "train rl: stop + resume reproduces the uninterrupted run exactly",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (base) => {
      const data = await setup(base);
      const flags = ["--init-lr-frac", "1", "--eval-every", "5", "--save-every", "-1"];
      const full = await rl(base, data, flags);
      const fullLosses = losses(full.out);
      assertEquals(fullLosses.size, 25);
      await Deno.rename(checkpointDir(base, "rl", "d2"), join(base, "rl_full"));

      const first = await rl(base, data, [...flags, "--stop-after", "7"]);
      assertEquals([...losses(first.out).keys()], [0, 1, 2, 3, 4, 5, 6]);
      const second = await rl(base, data, [...flags, "--resume"]);
      assertStringIncludes(second.out, "resumed from");
      const resumed = losses(second.out);
      assertEquals([...resumed.keys()], Array.from({ length: 18 }, (_, i) => i + 7));
      for (const [step, loss] of resumed) assertEquals(loss, fullLosses.get(step), `step ${step}`);
      assertEquals(rewards(second.out).get(20), rewards(full.out).get(20));
      // the evaluations after the resume (steps 10, 15, 20, 25) match the full run's
      const passLines = (out: string) => out.match(/^step 000(1|2)\d \| pass@1.*$/gm);
      assertEquals(passLines(second.out), passLines(full.out));
    }),
});

Deno.test({
  name: "train rl: SIGTERM finishes the step, saves, and exits 0",
  ignore: SHARED === null || Deno.build.os === "windows",
  fn: () =>
    withTempDir(async (base) => {
      const data = await setup(base);
      const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          main,
          "--base-dir",
          base,
          ...TINY,
          "--task-data-dir",
          data,
          "--num-epochs",
          "100",
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      let out = "";
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      while (!/^step 00002\//m.test(out)) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      child.kill("SIGTERM");
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      const status = await child.status;
      await child.stderr.cancel();
      assertEquals(status.code, 0, out);
      assertStringIncludes(out, "saved checkpoint");
      const ckpts = await listCheckpoints(checkpointDir(base, "rl", "d2"));
      assertEquals(ckpts.length, 1);
      assert(ckpts[0].step >= 3 && ckpts[0].step < 2500, `saved at step ${ckpts[0].step}`);
      assertEquals(JSON.parse(Deno.readTextFileSync(ckpts[0].metaPath)).final, false);
    }),
});

Deno.test({
  name: "train rl: bad inputs give clear errors and write nothing",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (base) => {
      const data = join(base, "task_data_synthetic");
      await writeTaskData(data);
      await makeTinyTokenizer(base, SHARED!);
      const run = (extra: string[]) =>
        runCliProcess(["--base-dir", base, ...TINY, "--task-data-dir", data, ...extra]);
      // no SFT model yet: the error names the command that makes one; no RL folder, metrics or report
      const none = await run([]);
      assertEquals(none.code, 1, none.out);
      assertStringIncludes(none.err, "nanochat train sft");
      for (const p of ["chatrl_checkpoints", "report"]) {
        assertEquals(await exists(join(base, p)), false, `${p} was created`);
      }
      const tagged = await run(["--source-tag", "d9"]);
      assertEquals(tagged.code, 1, tagged.out);
      assertStringIncludes(tagged.err, "nanochat train sft");

      await makeSftCheckpoint(base);
      const bad = await run(["--num-samples", "12"]);
      assertEquals(bad.code, 1, bad.out);
      assertStringIncludes(bad.err, "--num-samples 12 must be a multiple of --device-batch-size 8");
      const zero = await run(["--num-steps", "0"]);
      assertEquals(zero.code, 1, zero.out);
      assertStringIncludes(zero.err, "--num-steps must be -1");

      // an RL run already there: a fresh run refuses and leaves its checkpoint and metrics as they were
      await rl(base, data, ["--eval-every", "-1", "--stop-after", "2"]);
      const dir = checkpointDir(base, "rl", "d2");
      const before = await snapshot([dir, join(base, "report")]);
      const again = await run([]);
      assertEquals(again.code, 1, again.out);
      assertStringIncludes(again.err, "--resume");
      assertEquals(await snapshot([dir, join(base, "report")]), before);
    }),
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Every file under the folders with its bytes, to show that nothing changed. */
async function snapshot(dirs: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const dir of dirs) {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile) out[join(dir, e.name)] = Array.from(await Deno.readFile(join(dir, e.name))).join(",");
    }
  }
  return out;
}

Deno.test("train rl: the training passes mask the prompt and tool output, weight by advantage, pad and normalize", () => {
  // a group of 4 samples of a 2-token prompt [10, 11]; sample 1 has a forced (calculator) token 22
  const r = {
    index: 0,
    promptLength: 2,
    sequences: [[10, 11, 20], [10, 11, 21, 22, 23], [10, 11], [10, 11, 24, 25]],
    masks: [[0, 0, 1], [0, 0, 1, 0, 1], [0, 0], [0, 0, 1, 1]] as (0 | 1)[][],
    rewards: [1, 0, 0, 1],
    advantages: [0.5, -0.5, -0.5, 0.5],
    sampledTokens: 5,
  };
  const PAD = 99;
  const passes = trainingPasses(r, PAD, 2, 3);
  assertEquals(passes.length, 2);
  const [a, b] = passes;
  assertEquals([a.B, a.T], [2, 4]);
  assertEquals(Array.from(a.inputs), [10, 11, 20, PAD, 10, 11, 21, 22]);
  assertEquals(Array.from(a.targets), [-1, 20, -1, -1, -1, 21, -1, 23]);
  assertEquals(Array.from(a.weights), [0, 0.5, 0, 0, 0, -0.5, 0, -0.5]);
  assertEquals(a.validTokens, 3);
  assertEquals(a.normalizer, 3 * 2 * 3); // valid tokens x passes x examples per step, as nanochat
  assertEquals(Array.from(b.targets), [-1, -1, -1, -1, -1, 24, 25, -1]);
  assertEquals(b.normalizer, 2 * 2 * 3);
  assertEquals(passes.map((p) => p.zeroAdvantage), [false, false]);
  const flat = trainingPasses({ ...r, advantages: [0, 0, 0, 0] }, PAD, 4, 1);
  assertEquals(flat.map((p) => p.zeroAdvantage), [true]);
  // a sample with no sampled token still counts 1 in the normalizer (nanochat clamps num_valid at 1)
  const empty = trainingPasses({ ...r, sequences: [[10, 11], [10, 11]], masks: [[0, 0], [0, 0]] }, PAD, 2, 1);
  assertEquals(empty[0].normalizer, 1);
});

Deno.test("train rl: rollout seeds depend only on (seed, step, problem, pass)", () => {
  const s = rolloutSeed(42, 3, 17, 1);
  assertEquals(rolloutSeed(42, 3, 17, 1), s);
  assert(s >= 0 && s <= 0x7fffffff && Number.isInteger(s));
  const others = [
    rolloutSeed(43, 3, 17, 1),
    rolloutSeed(42, 4, 17, 1),
    rolloutSeed(42, 3, 18, 1),
    rolloutSeed(42, 3, 17, 0),
  ];
  assertEquals(new Set([s, ...others]).size, 5);
});

Deno.test({
  name: "train rl: the cpu speedrun preset's RL stage runs to its end, and a rerun of it resumes",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (base) => {
      const data = await setup(base);
      const plan = await planSpeedrun({ baseDir: base, preset: "cpu", rl: true, device: "cpu", threads: 2 });
      const stage = plan.find((s) => s.name === "rl")!;
      assertEquals(await stage.doneAt(), null);
      const args = [...stage.args, "--task-data-dir", data]; // the synthetic task instead of GSM8K
      const res = await runCliProcess(["--base-dir", base, ...args]);
      assertEquals(res.code, 0, res.err + res.out);
      assertStringIncludes(res.out, "step 00039/00040");
      assert((await stage.doneAt()) !== null, "the speedrun should see the RL stage as done");
      const again = await runCliProcess(["--base-dir", base, ...args]);
      assertEquals(again.code, 0, again.err + again.out);
      assertStringIncludes(again.out, "resumed from");
    }),
});

Deno.test({
  name:
    "train rl on --device cuda (the emulated CUDA backend): bf16 rollouts and weighted backward, reward rises",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (base) => {
      const data = await setup(base);
      // the CUDA backend's sources built for the CPU emulator (kernels/emu), as tests/cuda_emu_test.ts uses it
      const emu = fileURLToPath(new URL("../kernels/build/libnanochat_cuda_emu.so", import.meta.url));
      const res = await runCliProcess(
        ["--base-dir", base, ...TINY, "--task-data-dir", data, "--device", "cuda", "--init-lr-frac", "1"]
          .concat(["--eval-every", "-1", "--stop-after", "6"]),
        { env: { NANOCHAT_COMPUTE_LIB: emu } },
      );
      assertEquals(res.code, 0, res.err + res.out);
      assertStringIncludes(res.out, "bf16 compute");
      const r = [...rewards(res.out).values()];
      assertEquals(r.length, 6, res.out);
      assert(
        mean(r.slice(3)) > r[0] + 0.3,
        `the mean reward should rise on the cuda backend: ${r.join(" ")}`,
      );
    }),
});

Deno.test({
  name:
    "train rl on 2 ranks trains like 1 rank (same losses and rewards), one optimizer shard per rank, resumes",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (base) => {
      const data = await setup(base);
      // each rank samples and trains on half of the step's 4 problems; the library averages the gradients,
      // so the update only reassociates the 1-rank sum: losses agree to fp32 rounding, rewards exactly
      const flags = [
        ...TINY,
        "--task-data-dir",
        data,
        "--init-lr-frac",
        "1",
        "--eval-every",
        "2",
        "--threads",
        "1",
      ];
      const one = async (extra: string[]) => {
        const res = await runCliProcess(["--base-dir", base, ...flags, "--model-tag", "one", ...extra]);
        assertEquals(res.code, 0, res.err + res.out);
        return res.out;
      };
      const two = async (extra: string[]) => {
        const port = String(freePort());
        const res = await runCliProcess(
          ["--base-dir", base, ...flags, "--model-tag", "two", "--nproc-per-node", "2", "--master-port", port]
            .concat(extra),
        );
        assertEquals(res.code, 0, res.err + res.out);
        return res.out;
      };
      const same = (a: string, b: string, steps: number[]) => {
        const [la, lb] = [losses(a), losses(b)];
        assertEquals([...la.keys()], steps);
        assertEquals([...lb.keys()], steps);
        for (const s of steps) {
          const [x, y] = [Number(la.get(s)), Number(lb.get(s))];
          assert(Math.abs(x - y) <= 1e-5 * Math.abs(x) + 1e-7, `step ${s}: loss ${x} on 1 rank, ${y} on 2`);
        }
        assertEquals(rewards(b), rewards(a));
        assertEquals(a.match(/^step \d+ \| pass@1.*$/gm), b.match(/^step \d+ \| pass@1.*$/gm));
      };
      const [a1, b1] = [await one(["--stop-after", "3"]), await two(["--stop-after", "3"])];
      assertStringIncludes(b1, "2 ranks");
      same(a1, b1, [0, 1, 2]);
      const [ckpt] = await listCheckpoints(checkpointDir(base, "rl", "two"));
      assertEquals(ckpt.optimPaths.length, 2);
      const [a2, b2] = [
        await one(["--stop-after", "5", "--resume"]),
        await two(["--stop-after", "5", "--resume"]),
      ];
      assertStringIncludes(b2, "resumed from");
      same(a2, b2, [3, 4]);
    }),
});

Deno.test({
  name: "train rl on 2 ranks: SIGTERM to one rank stops both after the same step, saved, exit 0",
  ignore: SHARED === null || Deno.build.os === "windows",
  fn: () =>
    withTempDir(async (base) => {
      const data = await setup(base);
      const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
      const port = String(freePort());
      // two ranks as torchrun starts them (its environment variables), so one of them can be signalled
      const ranks = [0, 1].map((r) =>
        new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", main, "--base-dir", base, ...TINY, "--task-data-dir", data, "--threads", "1"]
            .concat(["--num-steps", "2000", "--eval-every", "-1"]),
          env: {
            NO_COLOR: "1",
            ...torchrunEnv(r, 2, port),
          },
          stdout: "piped",
          stderr: "piped",
        }).spawn()
      );
      let out = "";
      const reader = ranks[0].stdout.pipeThrough(new TextDecoderStream()).getReader();
      while (!/^step 00002\//m.test(out)) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      ranks[1].kill("SIGTERM");
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      const [s0, s1] = await Promise.all(ranks.map((c) => c.status));
      await ranks[0].stderr.cancel();
      const rest = await ranks[1].output();
      assertEquals([s0.code, s1.code], [0, 0], out + new TextDecoder().decode(rest.stderr));
      assertStringIncludes(out, "saved checkpoint");
      const ckpts = await listCheckpoints(checkpointDir(base, "rl", "d2"));
      assertEquals(ckpts.length, 1);
      assert(ckpts[0].step >= 3 && ckpts[0].step < 2000, `saved at step ${ckpts[0].step}`);
      assertEquals(ckpts[0].optimPaths.length, 2); // both ranks saved their shard at the same step
    }),
});
