// Data-parallel training end to end on the cpu backend (Gloo collectives), with real processes:
//   - the same global batch on 1 rank and on 2 ranks (our launcher; a plain shell loop with torchrun's
//     variables; two launchers with --nnodes 2 on 127.0.0.1) gives the same losses and parameters,
//     within fp32 rounding: |loss difference| <= 1e-5 relative and parameters within 2e-5 absolute
//     (the averaged gradient only reassociates the one-rank sum; a wrong average is off by 1e-3 or more);
//   - `train base` on 2 ranks writes one optimizer shard per rank, stops and resumes exactly, and refuses
//     a resume at another world size with a message saying what to do;
//   - SIGTERM to one rank: every rank finishes the step, saves, and exits 0;
//   - kill -9 of one rank: the other exits non-zero with a clear message within the comm timeout.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { listCheckpoints } from "../src/checkpoint/checkpoint.ts";
import { EVAL_BUNDLE_URL_ENV } from "../src/eval/core_bundle.ts";
import { denoScript, freePort, run, twoRankFlags } from "./dist/util.ts";
import {
  makeTinyBaseCheckpoint,
  makeTinyTokenizer,
  runCliProcess,
  sharedChatDir,
  sharedEvalBundleDir,
  sharedPretrainDir,
  tinyBaseTrainArgs,
  tinyCoreBundleZip,
  torchrunEnv,
  withTempDir,
} from "./helpers.ts";
import { stepLosses } from "./stage_helpers.ts";

const SHARED = sharedPretrainDir();
const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const sh = (cmd: string) => ["bash", "-c", cmd];
const quoted = (argv: string[]) => argv.map((a) => `'${a}'`).join(" ");

interface StepsResult {
  worldSize: number;
  losses: number[];
  params: number[][];
}

function assertSameTraining(a: StepsResult, b: StepsResult) {
  assertEquals(a.losses.length, b.losses.length);
  a.losses.forEach((l, i) =>
    assert(Math.abs(l - b.losses[i]) <= 1e-5 * Math.abs(l), `step ${i}: loss ${l} vs ${b.losses[i]}`)
  );
  let worst = 0;
  a.params.forEach((p, i) => p.forEach((x, j) => worst = Math.max(worst, Math.abs(x - b.params[i][j]))));
  assert(worst <= 2e-5, `parameters differ by up to ${worst}`);
}

async function steps(dir: string, name: string, command: (out: string) => string[]): Promise<StepsResult> {
  const out = join(dir, `${name}.json`);
  const r = await run(command(out));
  assertEquals(r.code, 0, r.err + r.out);
  return JSON.parse(await Deno.readTextFile(out));
}

Deno.test("2 ranks (launcher, torchrun variables, 2 nodes) train like 1 rank with the same global batch", () =>
  withTempDir(async (dir) => {
    const prog = (out: string, ...extra: string[]) => denoScript("train_steps.ts", "--out", out, ...extra);
    const one = await steps(dir, "one", (out) => prog(out));
    assertEquals(one.worldSize, 1);
    const launcher = await steps(
      dir,
      "launcher",
      (out) => prog(out, ...twoRankFlags()),
    );
    assertEquals(launcher.worldSize, 2);
    assertSameTraining(launcher, one);

    const port = freePort();
    const torchrun = await steps(dir, "torchrun", (out) =>
      sh(
        `for r in 0 1; do RANK=$r WORLD_SIZE=2 LOCAL_RANK=$r LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 ` +
          `MASTER_PORT=${port} ${quoted(prog(out))} & done; fail=0; ` +
          `for j in $(jobs -p); do wait $j || fail=1; done; exit $fail`,
      ));
    assertEquals(torchrun.worldSize, 2);
    assertSameTraining(torchrun, one);

    const nodesPort = String(freePort());
    const out = join(dir, "nodes.json");
    const node = (r: string) =>
      run(prog(out, "--nproc-per-node", "1", "--nnodes", "2", "--node-rank", r, "--master-port", nodesPort));
    const [n1, n0] = await Promise.all([node("1"), node("0")]);
    assertEquals([n0.code, n1.code], [0, 0], n0.err + n1.err);
    const nodes: StepsResult = JSON.parse(await Deno.readTextFile(out));
    assertEquals(nodes.worldSize, 2);
    assertSameTraining(nodes, one);
  }));

// d2 at T 64, B 2 per rank, 2 ranks: one micro-batch per rank per step of 256 tokens
const TINY = tinyBaseTrainArgs(64, 2, 256, "--eval-every", "-1", "--threads", "1");

async function train2(base: string, extra: string[], env: Record<string, string> = {}) {
  return await runCliProcess(
    ["--base-dir", base, ...TINY, "--data-dir", SHARED!, ...twoRankFlags(), ...extra],
    { env },
  );
}

Deno.test({
  name: "train base on 2 ranks: one optimizer shard per rank, exact resume, another world size refused",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyTokenizer(base, SHARED!, 300_000);
      const flags = ["--num-iterations", "6", "--eval-every", "3", "--eval-tokens", "1024"];
      const full = await train2(base, [...flags, "--model-tag", "full"]);
      assertEquals(full.code, 0, full.err);
      assertStringIncludes(full.out, "2 ranks");
      const fullLosses = stepLosses(full.out);
      assertEquals(fullLosses.size, 6, full.out);
      const ckpts = await listCheckpoints(join(base, "base_checkpoints", "full"));
      assertEquals(ckpts.map((c) => c.optimPaths.map((p) => p.split("/").pop())), [[
        "optim_000006_rank0.safetensors",
        "optim_000006_rank1.safetensors",
      ]]);

      const first = await train2(base, [...flags, "--model-tag", "split", "--stop-after", "3"]);
      assertEquals(first.code, 0, first.err);
      assertEquals([...stepLosses(first.out).keys()], [0, 1, 2]);
      const second = await train2(base, [...flags, "--model-tag", "split", "--resume"]);
      assertEquals(second.code, 0, second.err);
      const resumed = stepLosses(second.out);
      assertEquals([...resumed.keys()], [3, 4, 5]);
      for (const [step, loss] of resumed) assertEquals(loss, fullLosses.get(step), `step ${step}`);
      // validation bpb over the ranks (both read the one-row-group val split), the same after the resume
      const finalBpb = (out: string) => /step 00006 \| validation bpb: ([\d.]+)/.exec(out)?.[1];
      assert(finalBpb(full.out) !== undefined, full.out);
      assertEquals(finalBpb(second.out), finalBpb(full.out));

      const single = await runCliProcess([
        "--base-dir",
        base,
        ...TINY,
        "--data-dir",
        SHARED!,
        ...flags,
        "--num-iterations",
        "9",
        "--model-tag",
        "split",
        "--resume",
      ]);
      assertEquals(single.code, 1, single.out);
      assertStringIncludes(single.err, "saved by 2 rank(s), this run has 1");
      assertStringIncludes(single.err, "--nproc-per-node 2");
    }),
});

// Both ranks started by a shell loop with torchrun's variables; the test signals one rank's process.
function spawnRanks(base: string, port: number, extra: string[], env: Record<string, string> = {}) {
  return [0, 1].map((r) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "--base-dir", base, ...TINY, "--data-dir", SHARED!, ...extra],
      env: {
        NO_COLOR: "1",
        ...torchrunEnv(r, 2, port),
        ...env,
      },
      stdout: "piped",
      stderr: "piped",
    }).spawn()
  );
}

async function waitForStep(
  child: Deno.ChildProcess,
  step: number,
): Promise<ReadableStreamDefaultReader<string>> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const want = new RegExp(`^step ${String(step).padStart(5, "0")}/`, "m");
  while (!want.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`rank 0 ended before step ${step}: ${out}`);
    out += value;
  }
  return reader;
}

async function drain(reader: ReadableStreamDefaultReader<string>): Promise<string> {
  let out = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return out;
    out += value;
  }
}

Deno.test({
  name:
    "train base on 2 ranks: SIGTERM to one rank stops both after the same step, saved, exit 0; resume is exact",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyTokenizer(base, SHARED!, 300_000);
      const horizon = ["--num-iterations", "40"];
      const [r0, r1] = spawnRanks(base, freePort(), [...horizon, "--model-tag", "preempted"]);
      const reader = await waitForStep(r0, 2);
      r1.kill("SIGTERM");
      const out0 = await drain(reader);
      const [s0, s1] = await Promise.all([r0.status, r1.status]);
      const err1 = await new Response(r1.stderr).text();
      await r0.stderr.cancel();
      await r1.stdout.cancel();
      assertEquals([s0.code, s1.code], [0, 0], out0 + err1);
      assertStringIncludes(err1, "stop requested: finishing this step");
      const ckpts = await listCheckpoints(join(base, "base_checkpoints", "preempted"));
      assertEquals(ckpts.length, 1);
      assertEquals(ckpts[0].optimPaths.length, 2);
      const stoppedAt = ckpts[0].step;
      assertStringIncludes(out0, `saved checkpoint`);

      // resumed to step 8, it matches a run that was never interrupted
      const resumed = await train2(base, [
        ...horizon,
        "--model-tag",
        "preempted",
        "--resume",
        "--stop-after",
        "8",
      ]);
      assertEquals(resumed.code, 0, resumed.err);
      const full = await train2(base, [...horizon, "--model-tag", "whole", "--stop-after", "8"]);
      assertEquals(full.code, 0, full.err);
      const after = stepLosses(resumed.out), whole = stepLosses(full.out);
      assertEquals([...after.keys()][0], stoppedAt);
      assert(after.size > 0 && stoppedAt < 8, resumed.out);
      for (const [step, loss] of after) assertEquals(loss, whole.get(step), `step ${step}`);
    }),
});

Deno.test({
  name: "train base on 2 ranks: kill -9 of one rank makes the other exit non-zero within the comm timeout",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyTokenizer(base, SHARED!, 300_000);
      const [r0, r1] = spawnRanks(base, freePort(), ["--num-iterations", "1000"], {
        NANOCHAT_COMM_TIMEOUT_MS: "5000",
      });
      const reader = await waitForStep(r0, 2);
      const t0 = performance.now();
      r1.kill("SIGKILL");
      await drain(reader);
      const s0 = await r0.status;
      const seconds = (performance.now() - t0) / 1000;
      const err0 = new TextDecoder().decode(
        await new Response(r0.stderr).arrayBuffer().then((b) => new Uint8Array(b)),
      );
      await r1.status;
      await r1.stdout.cancel();
      await r1.stderr.cancel();
      assertEquals(s0.code, 1, err0);
      assert(seconds < 8, `rank 0 took ${seconds.toFixed(1)} s to exit`);
      assert(/peer|timed out|no progress/.test(err0), err0);
    }),
});

const BUNDLE = sharedEvalBundleDir();

Deno.test({
  name: "eval base on 2 ranks: CORE and bpb split their work over the ranks and give 1 rank's results",
  ignore: SHARED === null || BUNDLE === null,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyBaseCheckpoint(base, SHARED!);
      const json = () => join(base, "base_eval", "base_model_000003.json");
      const evalBase = async (launch: string[]) => {
        const res = await runCliProcess([
          "--base-dir",
          base,
          "eval",
          "base",
          "--core",
          "--bpb",
          "--split-tokens",
          "4096",
          "--data-dir",
          SHARED!,
          "--max-per-task",
          "12",
          "--eval-bundle",
          BUNDLE!,
          "--device-batch-size",
          "4",
          "--threads",
          "1",
          ...launch,
        ]);
        assertEquals(res.code, 0, res.err + res.out);
        const tasks = (JSON.parse(await Deno.readTextFile(json())) as { tasks: { correct: string }[] }).tasks;
        await Deno.remove(json());
        return { out: res.out, correct: tasks.map((t) => t.correct) };
      };
      const one = await evalBase([]);
      const two = await evalBase(twoRankFlags());
      assertEquals(two.correct, one.correct);
      assertEquals(two.out.match(/CORE metric:/g)?.length, 1, two.out); // rank 0 alone prints
      // the same batches, forwarded half by each rank: fp32 sums in another order
      for (const split of ["train", "val"]) {
        const bpb = (out: string) => Number(new RegExp(`${split} bpb ([\\d.]+)`).exec(out)?.[1]);
        assert(
          bpb(one.out) > 0 && Math.abs(bpb(two.out) - bpb(one.out)) <= 1e-5,
          `${split}: ${two.out} vs ${one.out}`,
        );
      }
    }),
});

const CHAT = sharedChatDir();

Deno.test({
  name: "eval chat on 2 ranks: the problems split over the ranks, the counts sum to 1 rank's",
  ignore: SHARED === null || CHAT === null,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyBaseCheckpoint(base, SHARED!);
      const json = join(base, "chat_eval", "base_model_000003.json");
      const evalChat = async (launch: string[]) => {
        const res = await runCliProcess([
          "--base-dir",
          base,
          "eval",
          "chat",
          "-i",
          "base",
          "-a",
          "ARC-Easy|MMLU|SpellingBee",
          "-x",
          "24",
          "-t",
          "0",
          "-m",
          "8",
          "--threads",
          "1",
          "--task-data-dir",
          CHAT!,
          ...launch,
        ]);
        assertEquals(res.code, 0, res.err + res.out);
        const tasks = (JSON.parse(await Deno.readTextFile(json)) as {
          tasks: { task: string; passed: number; total: number }[];
        }).tasks;
        await Deno.remove(json);
        return { out: res.out, tasks: tasks.map((t) => [t.task, t.passed, t.total]) };
      };
      const one = await evalChat([]);
      const two = await evalChat(twoRankFlags());
      assert(
        one.tasks.some((t) => (t[1] as number) > 0),
        `some problem should pass: ${JSON.stringify(one.tasks)}`,
      );
      assertEquals(two.tasks, one.tasks);
      assertEquals(two.out.match(/ARC-Easy accuracy/g)?.length, 1, two.out); // rank 0 alone prints
    }),
});

Deno.test("a command that does not split its work refuses --nproc-per-node and a multi-rank environment", async () => {
  const res = await runCliProcess(["tokenizer", "train", "--nproc-per-node", "2"]);
  assertEquals(res.code, 1);
  assertStringIncludes(
    res.err,
    "--nproc-per-node: `tokenizer` runs as one process; data-parallel commands are train base, eval base",
  );
  const ranked = await runCliProcess(["chat", "-p", "hi"], {
    env: { RANK: "1", WORLD_SIZE: "2", MASTER_ADDR: "127.0.0.1", MASTER_PORT: "29500" },
  });
  assertEquals(ranked.code, 1);
  assertStringIncludes(ranked.err, "a rank of a multi-process job: `chat` runs as one process");
});

Deno.test({
  name: "eval base --core on 2 ranks with no bundle yet: one rank downloads it, both use it",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyBaseCheckpoint(base, SHARED!);
      const zip = tinyCoreBundleZip();
      let served = 0;
      const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
        served++;
        return new Response(zip);
      });
      try {
        const res = await runCliProcess(
          [
            "--base-dir",
            base,
            "eval",
            "base",
            "--core",
            ...twoRankFlags(),
          ],
          {
            env: {
              [EVAL_BUNDLE_URL_ENV]: `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}/eval_bundle.zip`,
            },
          },
        );
        assertEquals(res.code, 0, res.err + res.out);
        assertStringIncludes(res.out, "copa (0-shot, multiple_choice, 12 examples)");
        assertEquals(served, 1);
      } finally {
        await server.shutdown();
      }
    }),
});
