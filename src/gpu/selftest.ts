// The GPU self-test (`nanochat gpu-selftest`): on the machine's GPU, the kernel parity suite when its
// binary is built (kernels/build/cuda/nanochat_cuda_tests, the cases CI runs under the emulator), then
// ABI-level checks of the cuda backend against the cpu backend on the same weights: the init RNG, the
// forward logits and losses, every gradient, the KV-cache prefill, and a few training steps. Each check
// has a bound argued for bf16 compute (the same bounds as the ABI tests' bf16 ones). Works on the
// emulated cuda library too (NANOCHAT_COMPUTE_LIB), which is how CI tests it.
import { fileURLToPath } from "node:url";
import { computeLibrary, cpuReferenceLibrary } from "../../ffi/compute.ts";
import { UserError } from "../common/errors.ts";
import { ComputeContext, GPT } from "../model/mod.ts";

/** The exit code of `nanochat gpu-selftest` when there is no CUDA backend or GPU to test. */
export const NO_GPU_EXIT = 2;
/** The exit code when a check fails. */
export const MISMATCH_EXIT = 1;

/** One line of the self-test's table. */
export interface SelftestRow {
  check: string;
  value: string;
  bound: string;
  ok: boolean;
}

export interface SelftestOptions {
  /** The GPU ordinal, default 0. */
  deviceIndex?: number;
  /** The kernel parity binary; default kernels/build/cuda/nanochat_cuda_tests (skipped when absent). */
  kernelTests?: string;
  /** Seconds the kernel suite may take. */
  kernelTimeoutS?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface SelftestResult {
  device: string;
  backend: string;
  rows: SelftestRow[];
  ok: boolean;
}

const DEFAULT_KERNEL_TESTS = fileURLToPath(
  new URL("../../kernels/build/cuda/nanochat_cuda_tests", import.meta.url),
);

// Head dim 128 like nanochat (and the cuDNN path's shape), two layers, small enough for the emulator.
const CONFIG = { nEmbd: 128, nHead: 1, nKvHead: 1, nLayer: 2, sequenceLen: 32, vocabSize: 256 };
const B = 2, T = 32, TRAIN_STEPS = 5;

/** max |a - b| / max |b|: error relative to the reference's scale. */
export function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0, den = 1e-30;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

function tokens(n: number, seed: number): Int32Array<ArrayBuffer> {
  const out = new Int32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = (s >>> 8) % CONFIG.vocabSize;
  }
  return out;
}

async function runKernelSuite(path: string, timeoutS: number): Promise<SelftestRow> {
  const check = "kernel parity suite (nanochat_cuda_tests)";
  const cmd = new Deno.Command(path, {
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutS * 1000),
  });
  try {
    const out = await cmd.output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    const last = text.trim().split("\n").at(-1) ?? "";
    return { check, value: last.slice(0, 60), bound: "every case passes", ok: out.success };
  } catch (err) {
    return { check, value: `did not finish: ${(err as Error).message}`, bound: `< ${timeoutS} s`, ok: false };
  }
}

/** The same model on both backends, weights from the cpu one (init is bit-identical anyway). */
async function abiChecks(
  gpu: ComputeContext,
  cpu: ComputeContext,
  log: (l: string) => void,
): Promise<SelftestRow[]> {
  const rows: SelftestRow[] = [];
  const row = (check: string, value: number, bound: number, fmt = (v: number) => v.toExponential(2)) =>
    rows.push({ check, value: fmt(value), bound: `< ${fmt(bound)}`, ok: value < bound });
  const g = GPT.create(gpu, CONFIG, { maxBatch: B });
  const c = GPT.create(cpu, CONFIG, { maxBatch: B });
  try {
    g.initWeights(7);
    c.initWeights(7);
    let initDiff = 0;
    for (let i = 0; i < c.params().length; i++) {
      initDiff = Math.max(initDiff, relErr(g.readParam(i), c.readParam(i)));
    }
    rows.push({
      check: "init weights (documented RNG)",
      value: initDiff === 0 ? "identical" : initDiff.toExponential(2),
      bound: "identical",
      ok: initDiff === 0,
    });
    // nanochat zero-inits lm_head and the c_proj weights: give every tensor values so all paths count
    let s = 12345;
    for (let i = 0; i < c.params().length; i++) {
      const p = c.readParam(i);
      const scale = 1.7 / Math.sqrt(c.params()[i].shape[1]); // uniform(-1.7, 1.7)/sqrt(fan_in): std 1/sqrt(fan_in)
      for (let e = 0; e < p.length; e++) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        p[e] = scale * ((s >>> 8) / 2 ** 23 - 1);
      }
      c.writeParam(i, p);
      g.writeParam(i, p);
    }
    const inputs = tokens(B * T, 11), targets = tokens(B * T, 12);
    log("forward ...");
    row(
      "forward logits",
      relErr(await g.forwardLogits(inputs, B, T), await c.forwardLogits(inputs, B, T)),
      3e-2,
    );
    row(
      "per-token losses",
      relErr(await g.forwardLosses(inputs, targets, B, T), await c.forwardLosses(inputs, targets, B, T)),
      1e-2,
    );
    log("backward ...");
    g.zeroGrad();
    c.zeroGrad();
    await g.backward(inputs, targets, B, T);
    await c.backward(inputs, targets, B, T);
    let worst = 0, worstName = "";
    for (let i = 0; i < c.params().length; i++) {
      const e = relErr(g.readGrad(i), c.readGrad(i));
      if (e > worst) [worst, worstName] = [e, c.params()[i].name];
    }
    row(`gradients (worst: ${worstName})`, worst, 0.2);
    log("KV cache ...");
    const gk = g.createKVCache(B, T), ck = c.createKVCache(B, T);
    try {
      const half = inputs.slice(0, B * (T / 2));
      row(
        "KV-cache prefill logits",
        relErr(await gk.prefill(half, B, T / 2), await ck.prefill(half, B, T / 2)),
        3e-2,
      );
    } finally {
      gk.free();
      ck.free();
    }
    log("training steps ...");
    let lossDiff = 0;
    for (let s = 0; s < TRAIN_STEPS; s++) {
      const x = tokens(B * T, 100 + s), y = tokens(B * T, 200 + s);
      const losses = [];
      for (const m of [g, c]) {
        m.zeroGrad();
        losses.push(await m.forwardBackward(x, y, B, T));
        await m.optimStep({ lrEmbed: 0.2, lrUnembed: 0.004, lrMatrix: 0.02, muonMomentum: 0.9 });
      }
      lossDiff = Math.max(lossDiff, Math.abs(losses[0] - losses[1]) / losses[1]);
    }
    // each step's bf16 rounding of the update compounds: measured 3.5e-3 under the emulator
    row(`${TRAIN_STEPS} training steps: losses`, lossDiff, 2e-2);
  } finally {
    g.free();
    c.free();
  }
  return rows;
}

/** Runs the self-test; a UserError with exit code NO_GPU_EXIT when there is no CUDA backend or GPU. */
export async function gpuSelftest(opts: SelftestOptions = {}): Promise<SelftestResult> {
  const log = opts.log ?? (() => {});
  try {
    computeLibrary("cuda");
  } catch (err) {
    throw new UserError(`gpu-selftest: no GPU to test: ${(err as Error).message}`, NO_GPU_EXIT);
  }
  const gpu = ComputeContext.create({ device: "cuda", deviceIndex: opts.deviceIndex ?? 0 });
  const cpu = ComputeContext.create({ library: cpuReferenceLibrary() });
  const rows: SelftestRow[] = [];
  try {
    const kernelTests = opts.kernelTests ?? DEFAULT_KERNEL_TESTS;
    let built = false;
    try {
      built = Deno.statSync(kernelTests).isFile;
    } catch {
      log(`kernel parity suite not built (${kernelTests}); ABI-level checks only`);
    }
    if (built && gpu.device.backend === "cuda") {
      log(`kernel parity suite: ${kernelTests} ...`);
      rows.push(await runKernelSuite(kernelTests, opts.kernelTimeoutS ?? 90));
    }
    rows.push(...await abiChecks(gpu, cpu, log));
    return { device: gpu.describe(), backend: gpu.device.backend, rows, ok: rows.every((r) => r.ok) };
  } finally {
    gpu.destroy();
    cpu.destroy();
  }
}

/** The result as a table, one check per line. */
export function formatSelftest(r: SelftestResult): string {
  const w = Math.max(...r.rows.map((x) => x.check.length));
  const v = Math.max(...r.rows.map((x) => x.value.length));
  const lines = [`gpu-selftest on ${r.device}, against the cpu backend`];
  for (const x of r.rows) {
    lines.push(`  ${x.ok ? "ok  " : "FAIL"}  ${x.check.padEnd(w)}  ${x.value.padStart(v)}  ${x.bound}`);
  }
  lines.push(r.ok ? "all checks passed" : `${r.rows.filter((x) => !x.ok).length} check(s) FAILED`);
  return lines.join("\n");
}
