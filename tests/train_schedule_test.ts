import { assert, assertEquals, assertThrows } from "@std/assert";
import { UserError } from "../src/common/errors.ts";
import {
  adamwLrScale,
  gradAccumSteps,
  lrMultiplier,
  midLrMultiplier,
  muonMomentum,
  numIterationsFor,
  pyRound,
  rlLrMultiplier,
  sftLrMultiplier,
  trainingHorizon,
} from "../src/train/schedule.ts";

const close = (a: number, b: number, eps = 1e-12) => assert(Math.abs(a - b) <= eps, `${a} != ${b}`);

Deno.test("schedule: base_train lr multiplier (N=1000, warmdown 0.2, final 0)", () => {
  for (const it of [0, 1, 400, 799, 800]) assertEquals(lrMultiplier(it, 1000), 1.0, `it=${it}`);
  // nanochat: 1.0 through it == N - warmdown (inclusive; progress is 1 there anyway), then linear decay
  close(lrMultiplier(801, 1000), 199 / 200);
  close(lrMultiplier(900, 1000), 0.5);
  close(lrMultiplier(999, 1000), 0.005);
  close(lrMultiplier(1000, 1000), 0);
  // final_lr_frac: the decay lands on it instead of 0
  close(lrMultiplier(900, 1000, { finalLrFrac: 0.1 }), 0.5 + 0.5 * 0.1);
  close(lrMultiplier(1000, 1000, { finalLrFrac: 0.1 }), 0.1);
});

Deno.test("schedule: warmup and Python rounding of the warmup / warmdown lengths", () => {
  // warmup 0.1 of 100 = 10 iters: (it+1)/10
  close(lrMultiplier(0, 100, { warmupRatio: 0.1 }), 0.1);
  close(lrMultiplier(4, 100, { warmupRatio: 0.1 }), 0.5);
  assertEquals(lrMultiplier(10, 100, { warmupRatio: 0.1 }), 1);
  // N=10, warmdown 0.25 → round(2.5) = 2 in Python (ties to even), so it 8 is still 1.0
  assertEquals(lrMultiplier(8, 10, { warmdownRatio: 0.25 }), 1);
  close(lrMultiplier(9, 10, { warmdownRatio: 0.25 }), 0.5);
  assertEquals([pyRound(0.5), pyRound(1.5), pyRound(2.5), pyRound(2.4), pyRound(2.6)], [0, 2, 2, 2, 3]);
});

Deno.test("schedule: Muon momentum warmup", () => {
  close(muonMomentum(0), 0.85);
  close(muonMomentum(150), 0.9);
  close(muonMomentum(300), 0.95);
  close(muonMomentum(600), 0.95);
});

Deno.test("schedule: mid / sft / rl multipliers and the AdamW lr scale", () => {
  assertEquals(midLrMultiplier(0), 1);
  assertEquals(midLrMultiplier(0.79), 1);
  close(midLrMultiplier(0.9), 0.5);
  close(midLrMultiplier(1), 0);
  close(sftLrMultiplier(0, 400), 1);
  close(sftLrMultiplier(100, 400), 0.75);
  close(rlLrMultiplier(30, 60), 0.5);
  close(adamwLrScale(768), 1);
  close(adamwLrScale(1280), 0.7745966692414834);
  close(0.004 * adamwLrScale(1280), 0.0030983866769659336);
});

Deno.test("schedule: training horizon precedence and the d20 Chinchilla horizon", () => {
  const d20 = { numParams: 560_988_160, flopsPerToken: 3.4917e9, totalBatchSize: 524_288 };
  assertEquals(numIterationsFor({ ...d20, targetParamDataRatio: 20 }), 21_400);
  assertEquals(numIterationsFor(d20), 21_400); // ratio 20 is the default
  assertEquals(21_400 * 524_288, 11_219_763_200);
  assertEquals(trainingHorizon(d20).source, "target_param_data_ratio");
  // num_iterations wins over everything
  assertEquals(trainingHorizon({ ...d20, numIterations: 50, targetFlops: 1e19 }), {
    numIterations: 50,
    source: "num_iterations",
  });
  // target flops: round(flops / (flops_per_token · total_batch))
  assertEquals(numIterationsFor({ ...d20, flopsPerToken: 1e9, targetFlops: 1e9 * 524_288 * 1234.6 }), 1235);
  assertEquals(trainingHorizon({ ...d20, targetFlops: 1e18 }).source, "target_flops");
  assertThrows(
    () => numIterationsFor({ ...d20, targetParamDataRatio: -1 }),
    UserError,
    "no training horizon",
  );
});

Deno.test("schedule: gradient accumulation steps and a helpful error when not divisible", () => {
  assertEquals(gradAccumSteps(524_288, 32, 2048, 8), 1);
  assertEquals(gradAccumSteps(524_288, 16, 2048, 8), 2);
  assertEquals(gradAccumSteps(524_288, 32, 2048, 1), 8);
  assertEquals(gradAccumSteps(1024, 1, 1024), 1);
  const err = assertThrows(() => gradAccumSteps(524_288, 32, 2048, 3), UserError, "not divisible");
  assert(err.message.includes("32 × 2048 × 3 = 196608"), err.message);
  assert(err.message.includes("--total-batch-size 393216 or 589824"), err.message);
  const err2 = assertThrows(() => gradAccumSteps(524_288, 24, 2048, 1), UserError);
  assert(err2.message.includes("--device-batch-size that divides it (2, 4, 8, 16)"), err2.message);
  assertThrows(() => gradAccumSteps(524_288, 0, 2048), UserError, "positive integer");
});
