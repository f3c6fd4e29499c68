// `deno task bench:train`: CPU pretraining throughput for d4 and d8 at T=512 (vocab 65536), side by side:
//   * the machine's measured fp32 SGEMM peak and the native library alone (kernels/build/nanochat_bench);
//   * our full step through Deno FFI (forward+backward, Muon+AdamW), with time inside native code vs wall
//     time, so the FFI crossing cost is visible, and the share of the step spent in the optimizer;
//   * data parallel: the same global batch on 2 ranks x 1 thread against 1 rank x 2 threads, with the
//     collectives' time per step (train_dist.ts);
//   * PyTorch CPU training nanochat's same model with the same optimizers (skipped with a note when torch is
//     not importable; BENCH_TORCH_PATH adds a folder to PYTHONPATH);
//   * an SFT row: nanochat's SFT step (padded micro-batches of variable-length rows, masked targets, grad
//     accumulation) on the same synthetic batches in both, as supervised tokens/s and all positions/s;
//   * the RL row (train_rl.ts): one `nanochat train rl` step in rollouts/s and sampled tokens/s, beside the
//     same loop in PyTorch (run it alone with `deno run -A tests/bench/train_rl.ts`).
import { fileURLToPath } from "node:url";
import { configFromDepth, flopsPerToken } from "../../src/model/config.ts";
import { ComputeContext, GPT } from "../../src/model/mod.ts";
import { rlRow } from "./train_rl.ts";
import { dataParallelRows } from "./train_dist.ts";

const T = 512;
const VOCAB = 65536;
const STEPS = Number(Deno.env.get("BENCH_STEPS") ?? "3");
const RUNS: [number, number][] = [[4, 8], [8, 4]]; // [depth, B]
const threads = navigator.hardwareConcurrency;
const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { ok: out.success, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

console.log(`machine: ${threads} cores; T=${T}, vocab ${VOCAB}, best of ${STEPS} steps after a warm-up\n`);

// 1. native library alone + SGEMM peak
const native = await run(root("kernels/build/nanochat_bench"), [
  "--depths",
  "4,8",
  "--seq",
  String(T),
  "--json",
]);
if (!native.ok) throw new Error(`nanochat_bench failed (run \`deno task build\`):\n${native.stderr}`);
const nativeJson = JSON.parse(native.stdout.trim().split("\n").pop()!);
const peak = Math.max(nativeJson.sgemm_gflops_before, nativeJson.sgemm_gflops_after) * 1e9;
console.log(`measured fp32 SGEMM peak: ${(peak / 1e9).toFixed(1)} GFLOP/s\n`);

console.log(
  "| model | B | ours via FFI, full step tok/s | GFLOP/s (% of SGEMM peak) | native share of step | FFI+TS overhead/step | " +
    "optimizer share of step | native-only fwd+bwd tok/s | its GEMM % of peak | PyTorch CPU tok/s | ours / PyTorch |",
);
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const [depth, B] of RUNS) {
  const config = configFromDepth(depth, VOCAB, T);
  const ctx = ComputeContext.create({ threads: 0, seed: 1, profile: true });
  const model = GPT.create(ctx, config, { maxBatch: B });
  model.initWeights(1);
  const inputs = Int32Array.from({ length: B * T }, (_, i) => (i * 7919) % VOCAB);
  const targets = Int32Array.from({ length: B * T }, (_, i) => (i * 104729 + 1) % VOCAB);
  const walls: number[] = [];
  const natives: number[] = [];
  const optims: number[] = [];
  for (let s = 0; s <= STEPS; s++) {
    model.resetProfile();
    const t0 = performance.now();
    await model.backward(inputs, targets, B, T, 1);
    await model.optimStep({ lrUnembed: 0.003, lrEmbed: 0.15, lrMatrix: 0.02, muonMomentum: 0.9 });
    model.zeroGrad();
    const wall = (performance.now() - t0) / 1000;
    if (s > 0) {
      walls.push(wall);
      const prof = model.profile();
      natives.push(prof.totalSeconds);
      optims.push(prof.optimizerSeconds);
    }
  }
  model.free();
  ctx.destroy();
  const best = walls.indexOf(Math.min(...walls));
  const tokS = (B * T) / walls[best];
  const gflops = flopsPerToken(config) * tokS;
  const nativeRun = nativeJson.runs.find((r: { depth: number }) => r.depth === depth);
  const torch = await run("python3", [
    root("tests/bench/train_reference_torch.py"),
    ...[depth, B, T, VOCAB, STEPS, threads].map(String),
  ], { PYTHONPATH: Deno.env.get("BENCH_TORCH_PATH") ?? "" });
  let torchTokS = Number.NaN;
  if (torch.ok) torchTokS = (B * T) / JSON.parse(torch.stdout.trim().split("\n").pop()!).step_seconds_best;
  console.log(
    `| d${depth} | ${B} | ${Math.round(tokS)} | ${(gflops / 1e9).toFixed(1)} (${
      (100 * gflops / peak).toFixed(0)
    }%) | ` +
      `${(100 * natives[best] / walls[best]).toFixed(1)}% | ${
        ((walls[best] - natives[best]) * 1000).toFixed(1)
      } ms | ${(100 * optims[best] / walls[best]).toFixed(1)}% (${optims[best].toFixed(2)} s) | ` +
      `${Math.round(nativeRun?.tok_per_s ?? NaN)} | ${
        (100 * (nativeRun?.matmul_gflops ?? NaN) * 1e9 / peak).toFixed(0)
      }% | ` +
      `${torch.ok ? Math.round(torchTokS) : "skipped: pip install torch"} | ` +
      `${torch.ok ? (tokS / torchTokS).toFixed(2) + "x" : "-"} |`,
  );
}
// 2. SFT: ACCUM padded micro-batches per step; row lengths and ids from one formula, shared with the
// PyTorch reference (sft_rows in train_reference_torch.py)
const SFT: { depth: number; B: number; accum: number } = { depth: 4, B: 4, accum: 2 };

function sftMicroBatch(micro: number, B: number) {
  const lens = Array.from({ length: B }, (_, r) => 64 + ((micro * B + r) * 97) % (T - 63));
  const W = Math.max(...lens) - 1;
  const inputs = new Int32Array(B * W).fill(1);
  const targets = new Int32Array(B * W).fill(-1);
  let supervised = 0;
  lens.forEach((n, r) => {
    const ids = Array.from({ length: n }, (_, t) => ((micro * B + r) * 7919 + t * 104729) % VOCAB);
    for (let t = 0; t < n - 1; t++) {
      inputs[r * W + t] = ids[t];
      if (t >= Math.floor(n / 3)) {
        targets[r * W + t] = ids[t + 1];
        supervised++;
      }
    }
  });
  return { inputs, targets, W, supervised };
}

async function sftRow(): Promise<void> {
  const { depth, B, accum } = SFT;
  const config = configFromDepth(depth, VOCAB, T);
  const ctx = ComputeContext.create({ threads: 0, seed: 1 });
  const model = GPT.create(ctx, config, { maxBatch: B });
  model.initWeights(1);
  const batches = Array.from({ length: accum }, (_, m) => sftMicroBatch(m, B));
  const walls: number[] = [];
  for (let s = 0; s <= STEPS; s++) {
    const t0 = performance.now();
    for (const b of batches) await model.backward(b.inputs, b.targets, B, b.W, 1 / accum);
    await model.optimStep({ lrUnembed: 0.003, lrEmbed: 0.15, lrMatrix: 0.02, muonMomentum: 0.95 });
    model.zeroGrad();
    if (s > 0) walls.push((performance.now() - t0) / 1000);
  }
  model.free();
  ctx.destroy();
  const best = Math.min(...walls);
  const supervised = batches.reduce((n, b) => n + b.supervised, 0);
  const positions = batches.reduce((n, b) => n + B * b.W, 0);
  const torch = await run("python3", [
    root("tests/bench/train_reference_torch.py"),
    ...[depth, B, T, VOCAB, STEPS, threads].map(String),
    "sft",
    String(accum),
  ], { PYTHONPATH: Deno.env.get("BENCH_TORCH_PATH") ?? "" });
  const torchBest = torch.ok ? JSON.parse(torch.stdout.trim().split("\n").pop()!).step_seconds_best : NaN;
  console.log(
    `\nSFT step: d${depth}, ${accum} micro-batches of ${B} rows (64-${T} tokens, first third masked), ` +
      `${supervised} supervised of ${positions} positions\n`,
  );
  console.log(
    "| model | ours supervised tok/s | ours positions/s | PyTorch CPU supervised tok/s | ours / PyTorch |",
  );
  console.log("|---|---:|---:|---:|---:|");
  console.log(
    `| d${depth} SFT | ${Math.round(supervised / best)} | ${Math.round(positions / best)} | ` +
      `${torch.ok ? Math.round(supervised / torchBest) : "skipped: pip install torch"} | ` +
      `${torch.ok ? (torchBest / best).toFixed(2) + "x" : "-"} |`,
  );
}
await sftRow();

await rlRow({ steps: STEPS, threads, torchPath: Deno.env.get("BENCH_TORCH_PATH") ?? "" });

await dataParallelRows({ depth: 4, globalB: 4, T, vocab: VOCAB, steps: STEPS });
const status = await Deno.readTextFile("/proc/self/status");
console.log(
  `\npeak RSS of this process: ${(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]) / 1024).toFixed(0)} MB`,
);
