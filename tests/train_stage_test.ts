// The shared stage helpers: the run estimate and its warning, in-step progress, the ETA clock.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { estimateRun, EtaClock } from "../src/train/stage_progress.ts";
import { BASE_DEFAULTS, SPEEDRUN_PRESETS } from "../src/train/stage_defaults.ts";
import { configFromDepth, flopsPerToken } from "../src/model/config.ts";

Deno.test("estimate: nanochat's d20 defaults on a CPU warn and name the way out", () => {
  const c = configFromDepth(BASE_DEFAULTS.depth, 65536, BASE_DEFAULTS.maxSeqLen);
  const e = estimateRun({
    flopsPerStep: flopsPerToken(c) * BASE_DEFAULTS.totalBatchSize,
    steps: 21400,
    peak: 2 * 2.5e9 * 32,
    deviceKind: "cpu",
  })!;
  assert(e.stepSeconds > 3600, `a d20 step on 2 cores takes hours, got ${e.stepSeconds}s`);
  assertStringIncludes(e.warning!, "--device cuda");
  assertStringIncludes(e.warning!, "--depth");
});

Deno.test("estimate: the cpu preset's base stage is not flagged; an unknown peak gives no estimate", () => {
  const p = SPEEDRUN_PRESETS.cpu.base;
  const c = configFromDepth(p.depth!, 4096, p.maxSeqLen!);
  const e = estimateRun({
    flopsPerStep: flopsPerToken(c) * p.totalBatchSize!,
    steps: p.numIterations!,
    peak: 2 * 2.5e9 * 32,
    deviceKind: "cpu",
  })!;
  assertEquals(e.warning, null);
  assert(e.totalSeconds < 600, `${e.totalSeconds}`);
  assertEquals(estimateRun({ flopsPerStep: 1e9, steps: 10, peak: null, deviceKind: "cpu" }), null);
});

Deno.test("eta clock: mean step time times the steps left", () => {
  const clock = new EtaClock();
  assertEquals(clock.eta(10), "?");
  clock.add(1);
  clock.add(3);
  assertEquals(clock.eta(30), "1m00s");
});
