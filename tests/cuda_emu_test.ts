// The cuda backend end to end through the TypeScript side, on the emulated build
// (kernels/build/libnanochat_cuda_emu.so: the CUDA backend's sources compiled for the CPU emulator):
// NANOCHAT_COMPUTE_LIB pointed at it serves --device cuda, its device runs bf16 compute, models default
// to bf16 there, and 30 training steps of a tiny model track the cpu backend's losses within the bf16
// bound stated below. CI runs this file, so the whole cuda backend (forward, backward, AdamW, Muon's
// bf16 Newton-Schulz, the loss statistics) is exercised on every change without a GPU.
import { assert, assertEquals, assertThrows } from "@std/assert";
import { fileURLToPath } from "node:url";
import { COMPUTE_LIB_ENV, computeLibrary } from "../ffi/compute.ts";
import { UserError } from "../src/common/errors.ts";
import { ComputeContext, GPT } from "../src/model/mod.ts";
import {
  makeTinyTokenizer,
  runCliProcess,
  sharedPretrainDir,
  tinyBaseTrainArgs,
  withTempDir,
} from "./helpers.ts";

const EMU_LIB = fileURLToPath(new URL("../kernels/build/libnanochat_cuda_emu.so", import.meta.url));
const tiny = { nEmbd: 32, nHead: 4, nKvHead: 2, nLayer: 2, sequenceLen: 16, vocabSize: 64 };
const B = 4, T = 16, STEPS = 30;

/** Runs `fn` with NANOCHAT_COMPUTE_LIB set to `value` (or unset), restoring it afterwards. */
async function withComputeLib<R>(value: string | undefined, fn: () => Promise<R> | R): Promise<R> {
  const before = Deno.env.get(COMPUTE_LIB_ENV);
  if (value === undefined) Deno.env.delete(COMPUTE_LIB_ENV);
  else Deno.env.set(COMPUTE_LIB_ENV, value);
  try {
    return await fn();
  } finally {
    if (before === undefined) Deno.env.delete(COMPUTE_LIB_ENV);
    else Deno.env.set(COMPUTE_LIB_ENV, before);
  }
}

/** A fixed corpus with structure to learn: token t+1 = (3*t + row) mod vocab, plus a little noise. */
function batch(step: number): { inputs: Int32Array<ArrayBuffer>; targets: Int32Array<ArrayBuffer> } {
  const V = tiny.vocabSize;
  const seq = new Int32Array(B * (T + 1));
  let s = (step * 2654435761) >>> 0;
  for (let b = 0; b < B; b++) {
    s = (s * 1103515245 + 12345) >>> 0;
    let tok = s % V;
    for (let t = 0; t <= T; t++) {
      seq[b * (T + 1) + t] = tok;
      s = (s * 1103515245 + 12345) >>> 0;
      tok = (s >>> 16) % 16 === 0 ? (s >>> 8) % V : (3 * tok + b) % V;
    }
  }
  const inputs = new Int32Array(B * T), targets = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      inputs[b * T + t] = seq[b * (T + 1) + t];
      targets[b * T + t] = seq[b * (T + 1) + t + 1];
    }
  }
  return { inputs, targets };
}

/** Losses of STEPS optimizer steps (one micro-batch each, nanochat's optimizer values) on `device`. */
async function trainLosses(lib: string | undefined, device: "cpu" | "cuda"): Promise<number[]> {
  return await withComputeLib(lib, async () => {
    const ctx = ComputeContext.create({ device });
    const model = GPT.create(ctx, tiny, { maxBatch: B });
    try {
      model.initWeights(1234);
      const losses: number[] = [];
      for (let step = 0; step < STEPS; step++) {
        const { inputs, targets } = batch(step);
        model.zeroGrad();
        losses.push(await model.forwardBackward(inputs, targets, B, T));
        await model.optimStep({ lrEmbed: 0.2, lrUnembed: 0.004, lrMatrix: 0.02, muonMomentum: 0.9 });
      }
      return losses;
    } finally {
      model.free();
      ctx.destroy();
    }
  });
}

Deno.test("NANOCHAT_COMPUTE_LIB at the emulated cuda build serves --device cuda with bf16 compute", async () => {
  await withComputeLib(EMU_LIB, () => {
    const lib = computeLibrary("cuda");
    assertEquals(lib.backend, "cuda_emu");
    assertEquals(lib.devices.length, 1);
    const ctx = ComputeContext.create({ device: "cuda" });
    try {
      assertEquals(ctx.device.kind, "cuda");
      assertEquals(ctx.device.computeDtypes, ["bf16"]);
      assert(ctx.describe().startsWith("cuda:0: "), ctx.describe());
      const model = GPT.create(ctx, tiny, { maxBatch: 1 });
      assertEquals(model.computeDtype, "bf16");
      model.free();
      // fp32 compute is refused with a message saying what the backend runs
      assertThrows(
        () => GPT.create(ctx, tiny, { maxBatch: 1, computeDtype: "f32" }),
        UserError,
        "computes in bf16",
      );
    } finally {
      ctx.destroy();
    }
    assertThrows(() => ComputeContext.create({ device: "cuda", deviceIndex: 1 }), UserError, "1 device(s)");
    assertThrows(() => ComputeContext.create({ device: "cpu" }), UserError, "has no cpu device");
  });
});

// The bound: bf16 rounds every GEMM operand and activation (2^-9 relative); on the loss of one forward
// that averages out to ~2e-4 (test_model.cpp's bf16 bounds), and over 30 steps the two trajectories'
// parameters drift apart by the rounding of each update (Muon's Newton-Schulz runs in bf16). Measured:
// 5.2e-4 at worst; bound 5e-3 of the cpu loss at every step (a wrong gradient or update term moves the
// losses by tens of percent within a few steps), and both runs must learn.
Deno.test("30 training steps on the emulated cuda backend track the cpu backend's losses", async () => {
  const cpu = await trainLosses(undefined, "cpu");
  const cuda = await trainLosses(EMU_LIB, "cuda");
  let worst = 0;
  for (let i = 0; i < STEPS; i++) worst = Math.max(worst, Math.abs(cuda[i] - cpu[i]) / cpu[i]);
  console.log(
    `cpu ${cpu[0].toFixed(4)} -> ${cpu[STEPS - 1].toFixed(4)}, cuda_emu ${cuda[0].toFixed(4)} -> ` +
      `${cuda[STEPS - 1].toFixed(4)}, worst relative difference ${worst.toExponential(2)}`,
  );
  assert(worst < 5e-3, `losses differ by ${worst} (relative) at some step: cpu ${cpu}, cuda ${cuda}`);
  assert(cpu[STEPS - 1] < 0.8 * cpu[0], `the cpu run did not learn: ${cpu}`);
  assert(cuda[STEPS - 1] < 0.8 * cuda[0], `the cuda run did not learn: ${cuda}`);
});

const SHARED = sharedPretrainDir();

Deno.test({
  name: "train base, eval base and chat run on --device cuda (the emulated backend) from the CLI",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyTokenizer(base, SHARED!, 100_000);
      const env = { NANOCHAT_COMPUTE_LIB: EMU_LIB, OMP_NUM_THREADS: "2" };
      const common = ["--base-dir", base];
      const train = await runCliProcess([
        ...common,
        ...tinyBaseTrainArgs(32, 2, 64, "--device", "cuda", "--num-iterations", "3", "--eval-every", "-1"),
        ...["--data-dir", SHARED!],
      ], { env });
      assertEquals(train.code, 0, train.err + train.out);
      assert(/^device cuda:0: CUDA emulator.* bf16 compute$/m.test(train.out), train.out);
      const evalRun = await runCliProcess([
        ...common,
        ...["eval", "base", "--device", "cuda", "--split-tokens", "256", "--device-batch-size", "2"],
        ...["--data-dir", SHARED!],
      ], { env });
      assertEquals(evalRun.code, 0, evalRun.err + evalRun.out);
      assert(/bpb|bits per byte/i.test(evalRun.out + evalRun.err), evalRun.out);
      const chat = await runCliProcess([
        ...common,
        ...["chat", "-i", "base", "-p", "hello", "--max-tokens", "4", "-t", "0", "--device", "cuda"],
      ], { env });
      assertEquals(chat.code, 0, chat.err + chat.out);
      assert(chat.out.trim().length > 0, "chat printed nothing");
    }),
});

Deno.test("a model larger than the GPU's memory is a clear out-of-memory error", async () => {
  // the emulator's device memory limit (NC_EMU_DEVICE_MEMORY_MB) stands in for a full GPU
  const r = await runCliProcess(
    ["gpu-bench", "--depths", "20", "--batch", "1", "--seq", "64", "--steps", "1"],
    { env: { NANOCHAT_COMPUTE_LIB: EMU_LIB, NC_EMU_DEVICE_MEMORY_MB: "64" } },
  );
  assertEquals(r.code, 1, r.out + r.err);
  const line = r.err.trim().split("\n").at(-1)!;
  assert(line.startsWith("error: creating the model: "), line);
  assert(/out of GPU memory allocating parameters \(2140\.\d MiB; .* free of 64\.0 MiB\)/.test(line), line);
});
