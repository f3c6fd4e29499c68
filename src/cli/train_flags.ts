// Flags every `nanochat train <stage>` command shares (learning rates, checkpoints, resume, device,
// progress), so each stage declares them once, with its own defaults from src/train/stage_defaults.ts.
import type { Command } from "commander";
import { UserError } from "../common/errors.ts";
import { deviceOption, parseIntOption, parseNumberOption } from "./context.ts";

const int = (flag: string) => parseIntOption(flag);
const num = (flag: string) => parseNumberOption(flag);

/** The optimizer's learning rates and weight decay. */
export function addLrFlags(
  cmd: Command,
  d: {
    embeddingLr: number;
    unembeddingLr: number;
    matrixLr: number;
    weightDecay: number;
    initLrFrac?: number;
  },
): Command {
  cmd
    .option("--embedding-lr <x>", "AdamW lr of the token embedding", num("--embedding-lr"), d.embeddingLr)
    .option("--unembedding-lr <x>", "AdamW lr of lm_head", num("--unembedding-lr"), d.unembeddingLr)
    .option("--matrix-lr <x>", "Muon lr of the block matrices", num("--matrix-lr"), d.matrixLr)
    .option("--weight-decay <x>", "AdamW weight decay", num("--weight-decay"), d.weightDecay);
  if (d.initLrFrac !== undefined) {
    cmd.option(
      "--init-lr-frac <x>",
      "start at this fraction of the lrs above",
      num("--init-lr-frac"),
      d.initLrFrac,
    );
  }
  return cmd;
}

/** Checkpoints, resume, device, progress: what every stage's loop does the same way. */
export function addLoopFlags(
  cmd: Command,
  d: { saveEvery: number; keepLast: number; logEvery: number; stopAfter: number },
  tagHelp: string,
): Command {
  return cmd
    .option(
      "--save-every <n>",
      "checkpoint every n steps (-1: only at the end)",
      int("--save-every"),
      d.saveEvery,
    )
    .option(
      "--keep-last <n>",
      "keep only the newest n checkpoints (0: keep all)",
      int("--keep-last"),
      d.keepLast,
    )
    .option("--model-tag <tag>", tagHelp, "")
    .option("--resume", "continue from the latest checkpoint of this model tag")
    .addOption(deviceOption())
    .option("--threads <n>", "CPU threads (0: all cores)", int("--threads"), 0)
    .option("--peak-flops <x>", "device peak FLOP/s for MFU (default: a CPU estimate)", num("--peak-flops"))
    .option(
      "--stop-after <n>",
      "save and stop after this step (-1: run to the end); --resume continues",
      int("--stop-after"),
      d.stopAfter,
    )
    .option("--log-every <n>", "print a progress line every n steps", int("--log-every"), d.logEvery)
    .option("--tokenizer-dir <dir>", "use this tokenizer instead of <base>/tokenizer");
}

/** Which checkpoint of the previous stage to start from, and the offline task data. */
export function addSourceFlags(cmd: Command, stage: string): Command {
  return cmd
    .option("--source-tag <tag>", `${stage} checkpoint folder to start from (default: the largest d<N>)`)
    .option("--source-step <n>", `${stage} checkpoint step (default: the latest)`, int("--source-step"))
    .option(
      "--task-data-dir <dir>",
      "offline task data laid out like shared/data/chat (default $NANOCHAT_TASK_DATA_DIR, else download)",
    );
}

/** Rejects values below `min` for the named options, naming the flag. */
export function requireAtLeast(opts: Record<string, unknown>, min: number, keys: string[]): void {
  for (const k of keys) {
    const v = opts[k] as number;
    if (!(Number.isInteger(v) && v >= min)) {
      throw new UserError(
        `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} must be at least ${min}, got ${v}`,
      );
    }
  }
}
