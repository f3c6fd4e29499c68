// `nanochat gpu-selftest` and `nanochat gpu-bench`: check the cuda backend against the cpu backend on
// this machine's GPU, and measure training throughput (tok/s, MFU) at nanochat's depths.
import type { Command } from "commander";
import { UserError } from "../common/errors.ts";
import { formatBench, gpuBench } from "../gpu/bench.ts";
import { formatSelftest, gpuSelftest, MISMATCH_EXIT, NO_GPU_EXIT } from "../gpu/selftest.ts";
import { parseIntOption, parseNumberOption } from "./context.ts";

function parseDepths(value: string): number[] {
  const depths = value.split(",").map((d) => Number(d.trim()));
  if (depths.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new UserError(`--depths expects positive integers separated by commas, got "${value}"`);
  }
  return depths;
}

export function registerGpuCommands(program: Command): void {
  program.command("gpu-selftest")
    .description(
      "check the cuda backend on this GPU against the cpu backend (kernel parity suite when built, then " +
        `forward, gradients, KV cache and training steps); exit 0 = all passed, ${MISMATCH_EXIT} = a check ` +
        `failed, ${NO_GPU_EXIT} = no CUDA backend or GPU`,
    )
    .option("--device-index <n>", "GPU ordinal", parseIntOption("--device-index"), 0)
    .option(
      "--kernel-tests <path>",
      "the kernel parity binary (default kernels/build/cuda/nanochat_cuda_tests)",
    )
    .option("--json", "print the result as JSON")
    .action(async (opts) => {
      const result = await gpuSelftest({
        deviceIndex: opts.deviceIndex,
        kernelTests: opts.kernelTests,
        log: opts.json ? undefined : (line) => console.error(line),
      });
      console.log(opts.json ? JSON.stringify(result, null, 2) : formatSelftest(result));
      if (!result.ok) throw new UserError("gpu-selftest: a check failed (table above)", MISMATCH_EXIT);
    });

  program.command("gpu-bench")
    .description(
      `training throughput on this GPU: tok/s, MFU and step time per depth (exit ${NO_GPU_EXIT} without a GPU)`,
    )
    .option("--depths <list>", "comma-separated depths", parseDepths, [12, 20])
    .option("--batch <n>", "micro-batch rows (device batch size)", parseIntOption("--batch"), 32)
    .option("--seq <n>", "sequence length", parseIntOption("--seq"), 2048)
    .option("--vocab-size <n>", "vocabulary size", parseIntOption("--vocab-size"), 65536)
    .option("--steps <n>", "timed micro-batches per depth", parseIntOption("--steps"), 5)
    .option("--device-index <n>", "GPU ordinal", parseIntOption("--device-index"), 0)
    .option(
      "--peak-flops <x>",
      "peak FLOP/s for MFU (default: the GPU's bf16 dense peak)",
      parseNumberOption("--peak-flops"),
    )
    .option("--json", "print the result as JSON")
    .action(async (opts) => {
      if (opts.batch < 1 || opts.seq < 1 || opts.steps < 1) {
        throw new UserError("--batch, --seq and --steps must be >= 1");
      }
      const result = await gpuBench({
        depths: opts.depths,
        batch: opts.batch,
        seq: opts.seq,
        vocabSize: opts.vocabSize,
        steps: opts.steps,
        deviceIndex: opts.deviceIndex,
        peakFlops: opts.peakFlops,
        log: opts.json ? undefined : (line) => console.error(line),
      });
      console.log(opts.json ? JSON.stringify(result, null, 2) : formatBench(result));
    });
}
