// Data-parallel training on the emulated cuda backend (kernels/build/libnanochat_cuda_emu.so): the cuda
// backend's world_size > 1 path — NCD1 bootstrap, the device communicator (NCCL on a GPU; here the same
// calls routed to Gloo by kernels/emu/nccl_emu.cpp), DistAdamW's reduce-scatter / sharded state /
// all-gather and DistMuon's stacked reduce-scatter / owner-only orthogonalization / all-gather, with and
// without clipping on the global norm (steps 0-1 clip)
// — with real processes from our launcher. 2 ranks on the same global batch train like 1 rank,
// within the bf16 bounds below (measured: losses within 1.4e-5, per-parameter mean |difference| up to
// 2.6e-4; the reassociated average moves bf16 roundings, and Adam's first update is ±lr for the few
// elements whose gradient is near zero, so per-element maxima are not a stable measure). The same bounds
// reject a run that never averages (rank 0's half of the batch alone: losses off by up to 1.1e-2, parameter
// means per tensor by 1.9e-3 to 0.1), so the test fails when the collectives do nothing. And kill -9 of one rank
// mid-run makes the other fail with a peer/timeout error within the comm timeout, never hang; and
// `train base --device cuda` on 2 ranks saves one optimizer shard per rank and resumes exactly.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { COMPUTE_LIB_ENV } from "../ffi/compute.ts";
import { denoScript, freePort, run, twoRankFlags, Watched } from "./dist/util.ts";
import { listCheckpoints } from "../src/checkpoint/checkpoint.ts";
import {
  makeTinyTokenizer,
  runCliProcess,
  sharedPretrainDir,
  tinyBaseTrainArgs,
  torchrunEnv,
  withTempDir,
} from "./helpers.ts";

const EMU_LIB = fileURLToPath(new URL("../kernels/build/libnanochat_cuda_emu.so", import.meta.url));
const LOSS_TOL = 1e-4; // absolute, per step
const PARAM_MEAN_TOL = 6e-4; // mean |difference| of each parameter tensor

interface StepsResult {
  worldSize: number;
  losses: number[];
  params: number[][];
  states: { name: string; offset: number; numel: number; fullNumel: number }[];
}

async function steps(dir: string, name: string, ...extra: string[]): Promise<StepsResult> {
  const out = join(dir, `${name}.json`);
  const r = await run(denoScript("train_steps.ts", "--device", "cuda", "--out", out, ...extra), {
    [COMPUTE_LIB_ENV]: EMU_LIB,
    OMP_NUM_THREADS: "1",
  });
  assertEquals(r.code, 0, r.err + r.out);
  return JSON.parse(await Deno.readTextFile(out));
}

/** The largest loss difference and the largest per-tensor mean parameter difference. */
function distance(a: StepsResult, b: StepsResult): { loss: number; paramMean: number } {
  assertEquals(a.losses.length, b.losses.length);
  const loss = Math.max(...a.losses.map((l, i) => Math.abs(l - b.losses[i])));
  const paramMean = Math.max(
    ...a.params.map((p, i) => p.reduce((s, x, j) => s + Math.abs(x - b.params[i][j]), 0) / p.length),
  );
  return { loss, paramMean };
}

Deno.test("2 ranks on the emulated cuda backend train like 1 rank with the same global batch", () =>
  withTempDir(async (dir) => {
    const one = await steps(dir, "one");
    assertEquals(one.worldSize, 1);
    const two = await steps(dir, "two", ...twoRankFlags());
    assertEquals(two.worldSize, 2);
    // DistAdamW: rank 0 holds the first half of wte's and lm_head's Adam state. DistMuon: the momentum of
    // the matrices it owns (every other one of each shape group: 6 of the 12), each whole.
    const adam = two.states.filter((s) => s.name.endsWith(".exp_avg") || s.name.endsWith(".exp_avg_sq"));
    assertEquals(adam.length, 4);
    for (const s of adam) assertEquals([s.offset, s.numel], [0, s.fullNumel / 2], s.name);
    const momentum = (r: StepsResult) => r.states.filter((s) => s.name.endsWith(".momentum_buffer"));
    assertEquals([momentum(one).length, momentum(two).length], [12, 6]);
    for (const s of momentum(two)) assertEquals(s.numel, s.fullNumel, s.name);
    assert(one.states.every((s) => s.numel === s.fullNumel));
    const d = distance(two, one);
    assert(d.loss <= LOSS_TOL, `losses differ by up to ${d.loss}: ${two.losses} vs ${one.losses}`);
    assert(d.paramMean <= PARAM_MEAN_TOL, `a parameter's mean difference is ${d.paramMean}`);

    // the control: without the average (one rank's half of the batch) both bounds are exceeded
    const half = await steps(dir, "half", "--rows", "2");
    const c = distance(half, one);
    assert(
      c.loss > LOSS_TOL && c.paramMean > PARAM_MEAN_TOL,
      `the bounds do not separate: ${JSON.stringify(c)}`,
    );
  }));

Deno.test("kill -9 of one rank on the emulated cuda backend: the other exits non-zero within the comm timeout", async () => {
  const port = String(freePort());
  const ranks = [0, 1].map((r) =>
    new Watched(denoScript("train_steps.ts", "--device", "cuda", "--steps", "100000"), {
      [COMPUTE_LIB_ENV]: EMU_LIB,
      OMP_NUM_THREADS: "1",
      NANOCHAT_COMM_TIMEOUT_MS: "5000",
      ...torchrunEnv(r, 2, port),
    })
  );
  await ranks[0].until((lines) => lines.includes("rank 0 step 2"), 60_000);
  const t0 = performance.now();
  ranks[1].child.kill("SIGKILL");
  const r0 = await ranks[0].finish();
  const seconds = (performance.now() - t0) / 1000;
  await ranks[1].finish();
  assert(!r0.status.success, r0.lines.join("\n"));
  assert(seconds < 8, `rank 0 took ${seconds.toFixed(1)} s to exit`);
  assert(/peer|timed out|no progress/.test(r0.err), r0.err);
});

const SHARED = sharedPretrainDir();

Deno.test({
  name: "train base --device cuda on 2 emulated ranks: one optimizer shard per rank, exact resume",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyTokenizer(base, SHARED!, 300_000);
      const train = (...extra: string[]) =>
        runCliProcess([
          ...["--base-dir", base],
          ...tinyBaseTrainArgs(
            64,
            2,
            256,
            ..."--eval-every -1 --threads 1 --device cuda --num-iterations 5".split(" "),
          ),
          ...["--data-dir", SHARED!, ...twoRankFlags(), ...extra],
        ], { env: { [COMPUTE_LIB_ENV]: EMU_LIB } });
      const losses = (out: string) =>
        [...out.matchAll(/^step (\d+)\/\d+ .*\| loss: ([\d.]+) \|/gm)].map((m) => m[2]);
      const full = await train("--model-tag", "full");
      assertEquals(full.code, 0, full.err);
      assertStringIncludes(full.out, "cuda_emu backend");
      assertStringIncludes(full.out, "2 ranks");
      const ckpts = await listCheckpoints(join(base, "base_checkpoints", "full"));
      assertEquals(ckpts.map((c) => c.optimPaths.map((p) => p.split("/").pop())), [[
        "optim_000005_rank0.safetensors",
        "optim_000005_rank1.safetensors",
      ]]);
      const first = await train("--model-tag", "split", "--stop-after", "3");
      assertEquals(first.code, 0, first.err);
      const second = await train("--model-tag", "split", "--resume");
      assertEquals(second.code, 0, second.err);
      assertEquals([...losses(first.out), ...losses(second.out)], losses(full.out));
      assertEquals(losses(full.out).length, 5);
    }),
});
