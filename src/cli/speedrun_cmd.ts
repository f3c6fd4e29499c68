// `nanochat speedrun --preset cpu|d20|d32`: every stage of the pipeline in order (speedrun.ts). main.ts
// passes in how to run a stage (its own runCli), so neither file imports the other in a cycle.
import { type Command, Option } from "commander";
import { speedrun, SPEEDRUN_STAGES, type StageRunner } from "../../speedrun.ts";
import { SPEEDRUN_PRESETS } from "../train/stage_defaults.ts";
import { UserError } from "../common/errors.ts";
import { deviceOption, globalOptions, parseIntOption } from "./context.ts";

export function registerSpeedrunCommand(program: Command, runStage: StageRunner): void {
  const presets = Object.entries(SPEEDRUN_PRESETS).map(([k, p]) => `${k}: ${p.description}`).join("; ");
  program.command("speedrun")
    .description(
      "run the whole pipeline in order: data, tokenizer, pretraining, base evaluation, midtraining, SFT, " +
        "their chat evaluations, optional RL, the report card. A rerun skips the stages whose results are " +
        "already there",
    )
    .addOption(
      new Option("--preset <name>", `stage settings (${presets})`).choices(Object.keys(SPEEDRUN_PRESETS))
        .default("d20"),
    )
    .option(
      "--data-dir <dir>",
      "local data instead of downloads: a folder laid out like shared/data (pretrain/, chat/, eval_bundle/), " +
        "or a folder of pretraining shards",
    )
    .option("--rl", "also run RL on GSM8K and its evaluation")
    .addOption(
      new Option("--from <stage>", "redo this stage and everything after it").choices([...SPEEDRUN_STAGES]),
    )
    .addOption(deviceOption())
    .option("--threads <n>", "CPU threads for every stage (0: all cores)", parseIntOption("--threads"), 0)
    .option(
      "--nproc-per-node <n>",
      "processes (one per device) for every training and evaluation stage (default: the preset's: " +
        "cpu 1, d20 and d32 8)",
      parseIntOption("--nproc-per-node"),
    )
    .action(async (opts, cmd: Command) => {
      const { baseDir } = globalOptions(cmd);
      const train = cmd.parent?.commands.find((c) => c.name() === "train");
      if (opts.rl && !train?.commands.some((c) => c.name() === "rl")) {
        throw new UserError("--rl needs `nanochat train rl`, which this build does not have yet: drop --rl");
      }
      await speedrun({
        baseDir,
        preset: opts.preset,
        dataDir: opts.dataDir,
        rl: Boolean(opts.rl),
        from: opts.from,
        device: opts.device,
        threads: opts.threads,
        nprocPerNode: opts.nprocPerNode,
        run: (args) => runStage(["--base-dir", baseDir, ...args]),
      });
    });
}
