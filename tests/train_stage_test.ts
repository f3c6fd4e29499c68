// The shared stage helpers: the run estimate and its warning, in-step progress, the ETA clock.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { estimateRun, EtaClock, StepProgress } from "../src/train/stage_progress.ts";
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

Deno.test("step progress: a step longer than the interval prints where it is; none after end()", async () => {
  const lines: string[] = [];
  const { error } = console;
  console.error = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    const p = new StepProgress("step", 4, 40);
    p.start(7);
    p.tick(1);
    await new Promise((r) => setTimeout(r, 130));
    p.end();
    const seen = lines.length;
    await new Promise((r) => setTimeout(r, 100));
    assert(seen >= 2, lines.join("\n"));
    assertEquals(lines.length, seen);
    assertStringIncludes(lines[0], "step 7: micro-batch 2/4");
    assertStringIncludes(lines[0], "left");
  } finally {
    console.error = error;
  }
});
