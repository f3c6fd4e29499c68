// `nanochat gpu-selftest` and `nanochat gpu-bench`: check the cuda backend against the cpu backend on
// this machine's GPU, and measure training throughput (tok/s, MFU) at nanochat's depths.
import type { Command } from "commander";
import { UserError } from "../common/errors.ts";
import { formatSelftest, gpuSelftest, MISMATCH_EXIT, NO_GPU_EXIT } from "../gpu/selftest.ts";
import { parseIntOption } from "./context.ts";

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
}
