// What every command handler gets from the global options: the resolved base directory.
import { type Command, InvalidArgumentError, Option } from "commander";
import { resolveBaseDir } from "../common/base_dir.ts";
import { DEVICE_CHOICES } from "../model/context.ts";
import { LAUNCH_FLAGS_HELP } from "../dist/mod.ts";
import { COMM_TIMEOUT_ENV } from "../model/comm.ts";

export interface GlobalOptions {
  baseDir: string;
}

/** Reads the global options (--base-dir) as seen from a subcommand. */
export function globalOptions(cmd: Command): GlobalOptions {
  const opts = cmd.optsWithGlobals() as { baseDir?: string };
  return { baseDir: resolveBaseDir(opts.baseDir) };
}

/** Parses a positive integer option, with a clear error naming the flag. */
export function parseIntOption(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${flag} expects an integer, got "${value}"`);
    return n;
  };
}

/** Parses a number that may be written as 2e9 or 2_000_000_000. */
export function parseNumberOption(flag: string) {
  return (value: string): number => {
    const n = Number(value.replaceAll("_", ""));
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${flag} expects a number, got "${value}"`);
    return n;
  };
}

/** --device, the same for every command that computes: auto, cpu or cuda. */
export function deviceOption(): Option {
  return new Option(
    "--device <device>",
    "compute device: cpu, cuda, or auto = cuda when its library loads and sees a GPU, else cpu " +
      "(NANOCHAT_COMPUTE_LIB names a specific backend library)",
  ).choices(DEVICE_CHOICES).default("auto");
}

/** `--help` text of the data-parallel commands: our launcher's flags and the environments they run under. */
export const DATA_PARALLEL_HELP = [
  "",
  "Data parallel (one process per device; rank 0 logs and writes):",
  ...LAUNCH_FLAGS_HELP.map((l) => `  ${l}`),
  "  or start it under torchrun, srun (SLURM) or mpirun: their rank variables are read as they are",
  `  ${COMM_TIMEOUT_ENV}=<ms>  how long a rank waits for a dead or hung peer (default 300000)`,
].join("\n");
