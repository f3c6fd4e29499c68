// `train mid` and `train sft` on 2 ranks (cpu backend, Gloo), with real processes and a tiny d2 model:
//   - the streams: rank r of W takes conversations r, r + W, ... (nanochat's cursor = ddp_rank, and
//     range(ddp_rank, len, W)); 2 ranks see disjoint conversations whose union is 1 rank's epoch;
//   - mid: nanochat's per-rank token streams make 2 ranks' global batch another one than 1 rank's, so the
//     test checks what holds: losses finite and falling, the step-0 validation bpb (the base weights, its
//     batches split over the ranks) equal to 1 rank's within 1e-5, one optimizer shard and one stream state
//     per rank, an exact stop + resume on 2 ranks, a resume on 1 rank refused naming the flag; SIGTERM to
//     one rank stops both after the same step, saved, exit 0;
//   - sft with one row per micro-batch: 2 ranks take 1 rank's global batches in the same order, so the
//     losses, validation losses and MMLU / ARC-Easy counts equal 1 rank's (fp32: 1e-5 relative);
//     stop + resume on 2 ranks is exact.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { listCheckpoints } from "../src/checkpoint/checkpoint.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { ChatTokenStream } from "../src/train/chat_stream.ts";
import { SftBatches } from "../src/train/sft_batches.ts";
import { Task, type TaskConversation } from "../tasks/mod.ts";
import { freePort, twoRankFlags, Watched } from "./dist/util.ts";
import {
  makeTinyBaseCheckpoint,
  makeTinyTokenizer,
  runCliProcess,
  torchrunEnv,
  withTempDir,
} from "./helpers.ts";
import { CHAT, NO_CHAT_DATA as ignore, PRETRAIN, stepLosses } from "./stage_helpers.ts";
const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

/** A task of `n` short conversations that records which examples were read. */
class Recorded extends Task {
  readonly name = "recorded";
  readonly seen: number[] = [];
  constructor(readonly n: number) {
    super();
  }
  numExamples(): number {
    return this.n;
  }
  example(index: number): TaskConversation {
    this.seen.push(index);
    return {
      messages: [
        { role: "user", content: `question ${index} ${"x ".repeat(index % 7)}` },
        { role: "assistant", content: `answer ${index}` },
      ],
    };
  }
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

Deno.test({
  name: "chat streams on 2 ranks: disjoint conversations whose union is 1 rank's epoch",
  ignore: PRETRAIN === null,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyTokenizer(base, PRETRAIN!, 50_000);
      const tok = Tokenizer.load(join(base, "tokenizer"));
      try {
        const n = 23;
        const epoch = (rank: number, world: number) => {
          const task = new Recorded(n);
          const s = new ChatTokenStream({ task, tokenizer: tok, B: 1, T: 16, rank, world });
          while (!s.wrapped) s.next();
          // a batch may render past the end: the epoch is what comes before the index goes back
          const back = task.seen.findIndex((i, k) => k > 0 && i < task.seen[k - 1]);
          return back < 0 ? task.seen : task.seen.slice(0, back);
        };
        const one = epoch(0, 1);
        assertEquals(one, Array.from({ length: n }, (_, i) => i));
        const [r0, r1] = [epoch(0, 2), epoch(1, 2)];
        assertEquals(r0, one.filter((i) => i % 2 === 0));
        assertEquals(r1, one.filter((i) => i % 2 === 1));

        // SFT: one step of 4 examples, 1 rank x 4 rows or 2 ranks x 2 rows: the same 4 examples
        const step = (rank: number, world: number, B: number) => {
          const task = new Recorded(n);
          const b = new SftBatches(task, tok, B, 64, 0, rank, world);
          for (let k = 0; k < 4 / (B * world); k++) b.next();
          return task.seen;
        };
        assertEquals(step(0, 1, 4), [0, 1, 2, 3]);
        assertEquals(step(0, 2, 2), [0, 2]);
        assertEquals(step(1, 2, 2), [1, 3]);
        assertEquals(sorted([...step(0, 2, 1), ...step(1, 2, 1)]), [0, 1, 2, 3]);
      } finally {
        tok.free();
      }
    }),
});

// ---- midtraining: d2 from the tiny base checkpoint, T 64, B 2, 512 tokens per step
const MID = [
  "train",
  "mid",
  "--max-seq-len",
  "64",
  "--device-batch-size",
  "2",
  "--total-batch-size",
  "512",
  "--eval-tokens",
  "1024",
  "--threads",
  "1",
  "--log-every",
  "1",
];

Deno.test({
  name: "train mid on 2 ranks: losses fall, split validation, shards and stream states, exact resume",
  ignore,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyBaseCheckpoint(base, PRETRAIN!);
      const mid = (extra: string[]) =>
        runCliProcess(["--base-dir", base, ...MID, "--task-data-dir", CHAT!, ...extra]);
      const flags = ["--num-iterations", "8", "--eval-every", "4"];
      const one = await mid([...flags, "--model-tag", "one"]);
      assertEquals(one.code, 0, one.err);
      const full = await mid([...flags, "--model-tag", "full", ...twoRankFlags()]);
      assertEquals(full.code, 0, full.err);
      assertStringIncludes(full.out, "grad accum 2 x 2 ranks");
      const losses = stepLosses(full.out);
      assertEquals([...losses.keys()], [1, 2, 3, 4, 5, 6, 7, 8]);
      const l = [...losses.values()].map(Number);
      assert(l.every(Number.isFinite) && l[7] < l[0] - 1, `losses should fall: ${l.join(" ")}`);
      // rank 0 alone prints; the base model's bpb over the split batches is 1 rank's
      const bpb = (out: string) => [...out.matchAll(/validation bpb: ([\d.]+)/g)].map((m) => Number(m[1]));
      assertEquals(bpb(full.out).length, 3, full.out);
      assert(Math.abs(bpb(full.out)[0] - bpb(one.out)[0]) <= 1e-5, `${bpb(full.out)} vs ${bpb(one.out)}`);
      const ckpts = await listCheckpoints(join(base, "mid_checkpoints", "full"));
      assertEquals(ckpts.map((c) => c.optimPaths.length), [2]);
      const meta = JSON.parse(await Deno.readTextFile(ckpts[0].metaPath));
      assertEquals(meta.worldSize, 2);
      assertEquals(meta.loaderStates.length, 2);
      // each rank's own stream of conversations, at its own place
      const [s0, s1] = meta.loaderStates.map((x: unknown) => JSON.stringify(x));
      assert(s0 !== s1, `both ranks at ${s0}`);
      assertStringIncludes(
        await Deno.readTextFile(join(base, "report", "midtraining.md")),
        "DDP world size: 2",
      );

      const first = await mid([...flags, "--model-tag", "split", "--stop-after", "3", ...twoRankFlags()]);
      assertEquals(first.code, 0, first.err);
      assertEquals([...stepLosses(first.out).keys()], [1, 2, 3]);
      const second = await mid([...flags, "--model-tag", "split", "--resume", ...twoRankFlags()]);
      assertEquals(second.code, 0, second.err);
      const resumed = stepLosses(second.out);
      assertEquals([...resumed.keys()], [4, 5, 6, 7, 8]);
      for (const [step, loss] of resumed) assertEquals(loss, losses.get(step), `step ${step}`);
      assertEquals(bpb(second.out).at(-1), bpb(full.out).at(-1));

      const single = await mid([...flags, "--num-iterations", "10", "--model-tag", "split", "--resume"]);
      assertEquals(single.code, 1, single.out);
      assertStringIncludes(single.err, "saved by 2 rank(s), this run has 1");
      assertStringIncludes(single.err, "--nproc-per-node 2");
    }),
});

Deno.test({
  name: "train mid on 2 ranks: SIGTERM to one rank stops both after the same step, saved, exit 0",
  ignore,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyBaseCheckpoint(base, PRETRAIN!);
      const port = String(freePort());
      const ranks = [0, 1].map((r) =>
        new Watched(
          [
            Deno.execPath(),
            "run",
            "-A",
            MAIN,
            "--base-dir",
            base,
            ...MID,
            "--task-data-dir",
            CHAT!,
            "--num-iterations",
            "100000",
            "--eval-every",
            "-1",
            "--model-tag",
            "term",
          ],
          torchrunEnv(r, 2, port),
        )
      );
      await ranks[0].until((lines) => lines.some((x) => x.startsWith("step 00002 (")), 60_000);
      ranks[1].child.kill("SIGTERM");
      const [r0, r1] = await Promise.all(ranks.map((w) => w.finish()));
      assertEquals([r0.status.code, r1.status.code], [0, 0], r0.err + r1.err);
      assertStringIncludes(r1.err, "stop requested: finishing this step");
      assertEquals(r1.lines.filter((x) => x.startsWith("step ")), []); // rank 1 prints no progress
      const ckpts = await listCheckpoints(join(base, "mid_checkpoints", "term"));
      assertEquals(ckpts.length, 1);
      assertEquals(ckpts[0].optimPaths.length, 2);
      const lastLogged = Math.max(...[...stepLosses(r0.lines.join("\n")).keys()]);
      assertEquals(ckpts[0].step, lastLogged);
    }),
});

// ---- SFT: one row per micro-batch, 4 examples per step; from a T 256 mid model so rows keep their answers
const SFT = [
  "train",
  "sft",
  "--device-batch-size",
  "1",
  "--target-examples-per-step",
  "4",
  "--eval-steps",
  "6",
  "--eval-every",
  "3",
  "--eval-metrics-every",
  "3",
  "--eval-metrics-max-problems",
  "12",
  "--threads",
  "1",
  "--log-every",
  "1",
];

function sftLosses(out: string): number[] {
  return [...out.matchAll(/^step (\d+)\/\d+ \| loss: ([\d.]+|NaN) \|/gm)].map((m) => Number(m[2]));
}

function closeAll(a: number[], b: number[], what: string) {
  assertEquals(a.length, b.length, what);
  a.forEach((x, i) =>
    assert(
      (Number.isNaN(x) && Number.isNaN(b[i])) || Math.abs(x - b[i]) <= 1e-5 * Math.abs(x),
      `${what} ${i}: ${x} vs ${b[i]}`,
    )
  );
}

Deno.test({
  name: "train sft on 2 ranks (B 1): the losses and accuracies of 1 rank; exact stop + resume",
  ignore,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyBaseCheckpoint(base, PRETRAIN!);
      const made = await runCliProcess([
        "--base-dir",
        base,
        ...MID.slice(0, 2),
        "--max-seq-len",
        "256",
        "--device-batch-size",
        "1",
        "--total-batch-size",
        "256",
        "--num-iterations",
        "2",
        "--eval-every",
        "-1",
        "--task-data-dir",
        CHAT!,
      ]);
      assertEquals(made.code, 0, made.err);
      const sft = (extra: string[]) =>
        runCliProcess(["--base-dir", base, ...SFT, "--task-data-dir", CHAT!, ...extra]);
      const flags = ["--num-iterations", "6"];
      const one = await sft([...flags, "--model-tag", "one"]);
      assertEquals(one.code, 0, one.err);
      const two = await sft([...flags, "--model-tag", "two", ...twoRankFlags()]);
      assertEquals(two.code, 0, two.err);
      assertStringIncludes(two.out, "grad accum 2 x 2 ranks");
      const losses = sftLosses(two.out);
      assertEquals(losses.length, 6, two.out);
      assert(losses.filter(Number.isFinite).length >= 4, two.out);
      closeAll(losses, sftLosses(one.out), "step loss");
      const vals = (out: string) => [...out.matchAll(/validation loss: ([\d.]+)/g)].map((m) => Number(m[1]));
      assertEquals(vals(two.out).length, 3, two.out);
      closeAll(vals(two.out), vals(one.out), "validation loss");
      const counts = (out: string) => [...out.matchAll(/accuracy: [\d.]+ \((\d+\/\d+)\)/g)].map((m) => m[1]);
      assertEquals(counts(two.out).length, 4, two.out); // MMLU and ARC-Easy at steps 3 and 6, rank 0 only
      assertEquals(counts(two.out), counts(one.out));
      const ckpts = await listCheckpoints(join(base, "chatsft_checkpoints", "two"));
      assertEquals(ckpts.map((c) => c.optimPaths.length), [2]);
      assertEquals(JSON.parse(await Deno.readTextFile(ckpts[0].metaPath)).loaderStates, [12, 12]);

      const first = await sft([...flags, "--model-tag", "split", "--stop-after", "2", ...twoRankFlags()]);
      assertEquals(first.code, 0, first.err);
      assertEquals(sftLosses(first.out).length, 2);
      const second = await sft([...flags, "--model-tag", "split", "--resume", ...twoRankFlags()]);
      assertEquals(second.code, 0, second.err);
      assertStringIncludes(second.out, "resumed from");
      const steps = (out: string) =>
        [...out.matchAll(/^step (\d+)\/\d+ \| loss: (\S+) \|/gm)].map((m) => m[0]);
      const whole = steps(two.out);
      assertEquals(steps(second.out), whole.slice(2));
    }),
});
