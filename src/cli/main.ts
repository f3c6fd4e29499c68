// Entry point of the `nanochat` program: builds the command tree and turns errors into clear messages.
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { UserError } from "../common/errors.ts";
import { describeEnvironmentError } from "../common/fs.ts";
import { maybeLaunch, readDistEnv } from "../dist/mod.ts";
import { VERSION } from "../version.ts";
import { registerChatCommand } from "./chat_cmd.ts";
import { registerDataCommands } from "./data_cmd.ts";
import { registerEvalCommands } from "./eval_cmd.ts";
import { registerGpuCommands } from "./gpu_cmd.ts";
import { registerModelCommands } from "./model_cmd.ts";
import { registerReportCommand } from "./report_cmd.ts";
import { registerServeCommand } from "./serve_cmd.ts";
import { registerSpeedrunCommand } from "./speedrun_cmd.ts";
import { registerTokenizerCommands } from "./tokenizer_cmd.ts";
import { registerTrainCommands } from "./train_cmd.ts";

/** Builds the full command tree (exported for tests, which drive it without a subprocess). */
export function buildProgram(): Command {
  const program = new Command("nanochat")
    .description("Train, evaluate and chat with a small ChatGPT-like model, from raw text to a browser chat.")
    .version(VERSION, "-V, --version")
    .option("--base-dir <dir>", "where artifacts live (env NANOCHAT_BASE_DIR, default ~/.cache/nanochat)")
    .showHelpAfterError("(run with --help for usage)")
    .configureHelp({ showGlobalOptions: true })
    // set before subcommands are added: commander copies it into each one at creation
    .exitOverride();
  registerDataCommands(program);
  registerTokenizerCommands(program);
  registerModelCommands(program);
  registerTrainCommands(program);
  registerEvalCommands(program);
  registerSpeedrunCommand(program, runCli);
  registerChatCommand(program);
  registerServeCommand(program);
  registerReportCommand(program);
  registerGpuCommands(program);
  return program;
}

/** The commands that run on several ranks (our launcher, torchrun, SLURM, mpirun). */
const DATA_PARALLEL_COMMANDS = ["train base", "eval base", "eval chat", "train mid", "train sft", "train rl"];

/** Runs the CLI with `args`; returns the process exit code. */
export async function runCli(args: string[]): Promise<number> {
  const program = buildProgram();
  try {
    // --nproc-per-node N [--nnodes ...] starts N copies of this command, torchrun-style (src/dist). Only
    // the commands that split their work over ranks take it, or run as a rank of a torchrun/SLURM/mpirun
    // job: the others would repeat their work N times, writing the same files.
    const launching = args.some((a) => a.startsWith("--nproc-per-node"));
    const ranked = readDistEnv(Deno.env.toObject()).worldSize > 1;
    if (launching || ranked) {
      // the command words come before the command's options (those after a --base-dir are its value)
      const words = args.filter((a, i) => !a.startsWith("-") && !args[i - 1]?.startsWith("-"));
      const command = ["train", "eval"].includes(words[0]) ? words.slice(0, 2).join(" ") : words[0] ?? "";
      if (!DATA_PARALLEL_COMMANDS.includes(command)) {
        throw new UserError(
          `${launching ? "--nproc-per-node" : "a rank of a multi-process job"}: \`${command}\` runs as one ` +
            `process; data-parallel commands are ${DATA_PARALLEL_COMMANDS.join(", ")}`,
        );
      }
    }
    if (launching) {
      const launched = await maybeLaunch(args);
      if (launched !== null) return launched;
    }
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit with code 0; commander already printed the message
      return err.exitCode;
    }
    if (err instanceof UserError) {
      console.error(`error: ${err.message}`);
      return err.exitCode;
    }
    if (err instanceof InvalidArgumentError) {
      console.error(`error: ${err.message}`);
      return 1;
    }
    // a full disk, a read-only or unwritable folder: the environment's fault, said in one line
    const environment = describeEnvironmentError(err);
    if (environment !== null) {
      console.error(`error: ${environment}`);
      return 1;
    }
    throw err;
  }
}

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
