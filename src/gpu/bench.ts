// The GPU training benchmark (`nanochat gpu-bench`, `deno task bench:gpu`): for each depth a nanochat
// model (n_embd = 64*depth, heads of 128, vocab 65536, T 2048) on the cuda backend, timed over
// forward+backward micro-batches and one optimizer step. Reports tokens/s, MFU against the GPU's bf16
// dense peak (nanochat's table, src/train/peak_flops.ts) and the step time of nanochat's 524,288-token
// batch (micro-batches accumulated, then one step). FLOPs per token follow nanochat:
// 6 * (matmul params) + 12 * L * H * D * T.
import { computeLibrary } from "../../ffi/compute.ts";
import { UserError } from "../common/errors.ts";
import { ComputeContext, configFromDepth, flopsPerToken, GPT } from "../model/mod.ts";
import { gpuPeakFlops } from "../train/peak_flops.ts";
import { NO_GPU_EXIT } from "./selftest.ts";

export interface BenchOptions {
  depths: number[];
  /** Micro-batch rows (nanochat's device_batch_size). */
  batch: number;
  seq: number;
  vocabSize: number;
  /** Timed micro-batches per depth (after one warm-up). */
  steps: number;
  deviceIndex?: number;
  /** Overrides the peak FLOP/s table. */
  peakFlops?: number;
  /** Tokens per optimizer step for the step-time estimate (nanochat: 524,288). */
  totalBatchTokens?: number;
  log?: (line: string) => void;
}

export interface BenchRow {
  depth: number;
  params: number;
  batch: number;
  seq: number;
  tokPerSec: number;
  mfu: number | null;
  microBatchSeconds: number;
  optimSeconds: number;
  stepSeconds: number;
  matmulShare: number;
}

export interface BenchResult {
  device: string;
  peakFlops: number | null;
  rows: BenchRow[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function randomTokens(n: number, vocab: number, seed: number): Int32Array<ArrayBuffer> {
  const out = new Int32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = (s >>> 4) % vocab;
  }
  return out;
}

async function benchDepth(
  ctx: ComputeContext,
  depth: number,
  o: BenchOptions,
  peak: number | null,
): Promise<BenchRow> {
  const config = configFromDepth(depth, o.vocabSize, o.seq);
  const B = o.batch, T = o.seq;
  const model = GPT.create(ctx, config, { maxBatch: B });
  try {
    model.initWeights(1);
    const x = randomTokens(B * T, o.vocabSize, depth), y = randomTokens(B * T, o.vocabSize, depth + 1);
    model.zeroGrad();
    await model.backward(x, y, B, T, 1); // warm-up: workspaces, cuBLASLt plans, cuDNN graphs
    model.resetProfile();
    const times: number[] = [];
    for (let i = 0; i < o.steps; i++) {
      const t0 = performance.now();
      await model.backward(x, y, B, T, 1 / o.steps);
      times.push((performance.now() - t0) / 1000);
    }
    const prof = model.profile();
    const step = { lrEmbed: 0.2, lrUnembed: 0.004, lrMatrix: 0.02, muonMomentum: 0.95 };
    await model.optimStep(step); // warm-up of the Newton-Schulz plans
    const t0 = performance.now();
    await model.optimStep(step);
    const optimSeconds = (performance.now() - t0) / 1000;
    const micro = median(times);
    const tokPerSec = (B * T) / micro;
    const accum = Math.max(1, Math.round((o.totalBatchTokens ?? 524288) / (B * T)));
    return {
      depth,
      params: model.numParams(),
      batch: B,
      seq: T,
      tokPerSec,
      mfu: peak ? (flopsPerToken(config) * tokPerSec) / peak : null,
      microBatchSeconds: micro,
      optimSeconds,
      stepSeconds: accum * micro + optimSeconds,
      matmulShare: prof.totalSeconds > 0 ? prof.matmulSeconds / prof.totalSeconds : 0,
    };
  } finally {
    model.free();
  }
}

/** Runs the benchmark; a UserError with exit code 2 when there is no CUDA backend or GPU. */
export async function gpuBench(o: BenchOptions): Promise<BenchResult> {
  const log = o.log ?? (() => {});
  try {
    computeLibrary("cuda");
  } catch (err) {
    throw new UserError(`gpu-bench: no GPU to benchmark: ${(err as Error).message}`, NO_GPU_EXIT);
  }
  const ctx = ComputeContext.create({ device: "cuda", deviceIndex: o.deviceIndex ?? 0, profile: true });
  try {
    const peak = o.peakFlops ?? gpuPeakFlops(ctx.device.name);
    const rows: BenchRow[] = [];
    for (const depth of o.depths) {
      log(`d${depth}: B=${o.batch} T=${o.seq} ...`);
      rows.push(await benchDepth(ctx, depth, o, peak));
    }
    return { device: ctx.describe(), peakFlops: peak, rows };
  } finally {
    ctx.destroy();
  }
}

/** The result as a table. */
export function formatBench(r: BenchResult): string {
  const peak = r.peakFlops
    ? `${(r.peakFlops / 1e12).toFixed(0)} TFLOP/s bf16 peak`
    : "peak unknown (--peak-flops)";
  const lines = [`gpu-bench on ${r.device}; ${peak}`];
  lines.push(
    "  depth  params      B x T        tok/s     MFU   micro-batch  optim step  step (524k tok)  GEMM share",
  );
  for (const x of r.rows) {
    lines.push(
      `  d${String(x.depth).padEnd(5)} ${(x.params / 1e6).toFixed(1).padStart(7)}M  ${
        `${x.batch} x ${x.seq}`.padEnd(10)
      }` +
        ` ${Math.round(x.tokPerSec).toLocaleString("en-US").padStart(10)}  ${
          x.mfu === null ? "  n/a" : `${(100 * x.mfu).toFixed(1)}%`.padStart(6)
        }` +
        `  ${(x.microBatchSeconds * 1e3).toFixed(1).padStart(8)} ms  ${
          (x.optimSeconds * 1e3).toFixed(1).padStart(7)
        } ms` +
        `  ${x.stepSeconds.toFixed(3).padStart(12)} s  ${(100 * x.matmulShare).toFixed(0).padStart(8)}%`,
    );
  }
  return lines.join("\n");
}
