// The whole pipeline, top to bottom, as `nanochat speedrun` runs it (nanochat A's speedrun.sh): data,
// tokenizer, pretraining, base evaluation, midtraining and its chat evaluation, SFT and its chat
// evaluation, RL when asked, and the report card. Every stage is an ordinary CLI command (the caller
// passes in how to run one, so this file never imports the CLI); any stage can be rerun by hand with
// the flags it prints.
//
// Stage-level resume: a stage counts as done when its artifact exists (a checkpoint that ran to its last
// step, a report section, the tokenizer files) and is newer than the artifact of the stage before it, so
// a rerun skips finished work, and redoing a stage redoes everything after it. --from STAGE restarts there.
import { join } from "node:path";
import { UserError } from "./src/common/errors.ts";
import { layout } from "./src/common/base_dir.ts";
import { formatDuration } from "./src/common/fs.ts";
import { checkpointDir, type Stage } from "./src/checkpoint/checkpoint.ts";
import { sectionFile } from "./src/report/section.ts";
import {
  BASE_DEFAULTS,
  type PresetName,
  SPEEDRUN_PRESETS,
  type SpeedrunPreset,
} from "./src/train/stage_defaults.ts";
import { finalCheckpointTime } from "./src/train/stage_checkpoint.ts";

/** Runs one CLI command (the arguments after `nanochat`) and returns its exit code. */
export type StageRunner = (args: string[]) => Promise<number>;

/** The stages, in order, by the names --from takes. */
export const SPEEDRUN_STAGES = [
  "data",
  "tokenizer",
  "tokenizer-eval",
  "base",
  "base-eval",
  "mid",
  "mid-eval",
  "sft",
  "sft-eval",
  "rl",
  "rl-eval",
  "report",
] as const;
export type SpeedrunStage = typeof SPEEDRUN_STAGES[number];

export interface SpeedrunOptions {
  baseDir: string;
  /** A preset by name, or a preset object (tests run a reduced cpu preset). */
  preset: PresetName | SpeedrunPreset;
  /**
   * Local data instead of downloads: a folder laid out like shared/data (pretrain/, chat/, eval_bundle/),
   * or a folder of pretraining shards.
   */
  dataDir?: string;
  /** Also run RL and its GSM8K evaluation (nanochat's speedrun leaves them commented out). */
  rl: boolean;
  /** Redo this stage and everything after it. */
  from?: SpeedrunStage;
  device: string;
  threads: number;
  /** Overrides the preset's processes per node for the data-parallel stages. */
  nprocPerNode?: number;
  run: StageRunner;
}

interface PlannedStage {
  name: SpeedrunStage;
  title: string;
  args: string[];
  /** When the stage's artifact was written (ms), or null when it is missing or incomplete. */
  doneAt: () => Promise<number | null>;
}

/** Where a shared/data-style folder keeps each kind of data (undefined: download). */
export async function resolveLocalData(
  dataDir: string | undefined,
): Promise<{ shards?: string; tasks?: string; bundle?: string }> {
  if (dataDir === undefined) return {};
  if (!(await isDir(dataDir))) throw new UserError(`--data-dir ${dataDir} is not a folder`);
  if (await isDir(join(dataDir, "pretrain"))) {
    const tasks = join(dataDir, "chat");
    const bundle = join(dataDir, "eval_bundle");
    return {
      shards: join(dataDir, "pretrain"),
      tasks: (await isDir(tasks)) ? tasks : undefined,
      bundle: (await isDir(bundle)) ? bundle : undefined,
    };
  }
  return { shards: dataDir };
}

/** Flags for the values a preset sets (camelCase keys become --kebab-case). */
function flags(values: Record<string, number | string | undefined>): string[] {
  return Object.entries(values).flatMap(([k, v]) =>
    v === undefined ? [] : [`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, String(v)]
  );
}

/** Builds the plan: each stage's command and how to tell it is done. */
export async function planSpeedrun(o: Omit<SpeedrunOptions, "run">): Promise<PlannedStage[]> {
  const p = typeof o.preset === "string" ? SPEEDRUN_PRESETS[o.preset] : o.preset;
  const local = await resolveLocalData(o.dataDir);
  const data = local.shards ? ["--data-dir", local.shards] : [];
  const tasks = local.tasks ? ["--task-data-dir", local.tasks] : [];
  const compute = ["--device", o.device, "--threads", String(o.threads)];
  // every training and evaluation stage starts one process per device, as speedrun.sh's torchrun
  const nproc = o.nprocPerNode ?? p.nprocPerNode;
  if (!Number.isInteger(nproc) || nproc < 1) {
    throw new UserError(`--nproc-per-node must be at least 1, got ${nproc}`);
  }
  const parallel = [...compute, ...(nproc > 1 ? ["--nproc-per-node", String(nproc)] : [])];
  const depth = p.base.depth ?? BASE_DEFAULTS.depth;
  const tag = `d${depth}`;
  const report = (section: string) => join(layout.report(o.baseDir), sectionFile(section));
  const finished = (stage: Stage) => () => finalCheckpointTime(checkpointDir(o.baseDir, stage, tag));
  const chatEval = (source: Stage, only?: string): string[] => [
    "eval",
    "chat",
    "-i",
    source,
    "-g",
    tag,
    ...(only ? ["-a", only] : []),
    ...flags({
      maxProblems: p.chatEval.maxProblems > 0 ? p.chatEval.maxProblems : undefined,
      maxNewTokens: p.chatEval.maxNewTokens,
      batchSize: p.chatEval.batchSize,
    }),
    ...tasks,
    ...parallel,
  ];

  const stages: PlannedStage[] = [];
  // 1. Pretraining shards: downloaded, unless local ones are given.
  stages.push({
    name: "data",
    title: local.shards ? `pretraining shards: local, ${local.shards}` : "download pretraining shards",
    args: local.shards ? [] : ["data", "download", "-n", String(p.numShards)],
    doneAt: async () => local.shards ? 0 : await shardsTime(layout.data(o.baseDir), p.numShards),
  });
  // 2. Tokenizer: train a BPE vocabulary, then compare its compression with GPT-2's and GPT-4's.
  stages.push({
    name: "tokenizer",
    title: "train the tokenizer",
    args: [
      "tokenizer",
      "train",
      ...flags({ vocabSize: p.vocabSize, maxChars: p.maxChars, threads: o.threads }),
      ...data,
    ],
    doneAt: async () =>
      (await mtime(join(layout.tokenizer(o.baseDir), "tokenizer.tiktoken"))) === null
        ? null
        : await mtime(report("Tokenizer training")),
  });
  stages.push({
    name: "tokenizer-eval",
    title: "evaluate the tokenizer",
    args: ["tokenizer", "eval", ...data],
    doneAt: () => mtime(report("Tokenizer evaluation")),
  });
  // 3. Pretraining, then bits per byte on train/val and the CORE metric.
  stages.push({
    name: "base",
    title: "pretrain the base model",
    args: ["train", "base", ...flags(p.base), ...data, ...parallel],
    doneAt: finished("base"),
  });
  stages.push({
    name: "base-eval",
    title: "evaluate the base model (bpb and CORE)",
    args: [
      "eval",
      "base",
      "--bpb",
      "--core",
      "--model-tag",
      tag,
      ...flags({
        deviceBatchSize: p.baseEval.deviceBatchSize,
        splitTokens: p.baseEval.splitTokens,
        maxPerTask: p.baseEval.maxPerTask,
      }),
      ...(local.bundle ? ["--eval-bundle", local.bundle] : []),
      ...data,
      ...parallel,
    ],
    doneAt: async () =>
      minTime(await mtime(report("Base model loss")), await mtime(report("Base model evaluation"))),
  });
  // 4. Midtraining: conversations, multiple choice, tool use; then the chat evaluation of the result.
  stages.push({
    name: "mid",
    title: "midtrain",
    args: ["train", "mid", "--source-tag", tag, ...flags(p.mid), ...tasks, ...parallel],
    doneAt: finished("mid"),
  });
  stages.push({
    name: "mid-eval",
    title: "chat evaluation of the mid model",
    args: chatEval("mid"),
    doneAt: () => mtime(report("Chat evaluation mid")),
  });
  // 5. Supervised finetuning, then its chat evaluation.
  stages.push({
    name: "sft",
    title: "supervised finetuning",
    args: ["train", "sft", "--source-tag", tag, ...flags(p.sft), ...tasks, ...parallel],
    doneAt: finished("sft"),
  });
  stages.push({
    name: "sft-eval",
    title: "chat evaluation of the SFT model",
    args: chatEval("sft"),
    doneAt: () => mtime(report("Chat evaluation sft")),
  });
  // 6. Optional: reinforcement learning on GSM8K, evaluated on GSM8K.
  if (o.rl) {
    stages.push({
      name: "rl",
      title: "reinforcement learning on GSM8K",
      // --resume: `train rl` refuses to start over an RL run it would overwrite; an interrupted one continues
      args: ["train", "rl", "--source-tag", tag, "--resume", ...flags(p.rl), ...tasks, ...parallel],
      doneAt: finished("rl"),
    });
    stages.push({
      name: "rl-eval",
      title: "GSM8K evaluation of the RL model",
      args: chatEval("rl", "GSM8K"),
      doneAt: () => mtime(report("Chat evaluation rl")),
    });
  }
  // 7. The report card (always regenerated: it is cheap and reads every stage's section).
  stages.push({
    name: "report",
    title: "write the report card",
    args: ["report", "generate", "--no-copy"],
    doneAt: () => Promise.resolve(null),
  });
  return stages;
}

/** Which stages to run: from the first one not done (or --from) to the end. */
export async function stagesToRun(stages: PlannedStage[], from?: SpeedrunStage): Promise<boolean[]> {
  const fromIndex = from === undefined ? stages.length : stages.findIndex((s) => s.name === from);
  if (from !== undefined && fromIndex < 0) {
    throw new UserError(`--from ${from}: that stage is not in this run (add --rl for rl and rl-eval)`);
  }
  const run: boolean[] = [];
  let previous = 0;
  let redo = false;
  for (const [i, stage] of stages.entries()) {
    if (i >= fromIndex) redo = true;
    const at = redo ? null : await stage.doneAt();
    if (at === null || at < previous) redo = true;
    run.push(redo);
    if (!redo) previous = at!;
  }
  return run;
}

/** Runs the pipeline; stops at the first stage that fails, or after a stage that was interrupted. */
export async function speedrun(
  o: SpeedrunOptions,
): Promise<{ ran: SpeedrunStage[]; skipped: SpeedrunStage[] }> {
  const p = typeof o.preset === "string" ? SPEEDRUN_PRESETS[o.preset] : o.preset;
  const stages = await planSpeedrun(o);
  const run = await stagesToRun(stages, o.from);
  console.log(`speedrun preset: ${p.description}`);
  // a fresh run starts a fresh report (header with git, hardware, cost); a resumed one keeps its sections
  if (run[0] || run[1]) {
    const code = await o.run(["report", "reset"]);
    if (code !== 0) throw new UserError(`\`nanochat report reset\` failed (exit code ${code})`);
  }

  // Ctrl-C / SIGTERM: the running stage saves and returns; then the speedrun stops instead of going on
  let interrupted = false;
  const onSignal = () => interrupted = true;
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  const ran: SpeedrunStage[] = [];
  const skipped: SpeedrunStage[] = [];
  const times: [string, number][] = [];
  try {
    for (const [i, stage] of stages.entries()) {
      const label = `speedrun stage ${i + 1}/${stages.length}: ${stage.name} (${stage.title})`;
      if (!run[i] || stage.args.length === 0) {
        console.log(`\n=== ${label}: done already, skipped ===`);
        skipped.push(stage.name);
        continue;
      }
      console.log(`\n=== ${label} ===\n$ nanochat ${stage.args.join(" ")}`);
      const t0 = performance.now();
      const code = await o.run(stage.args);
      const seconds = (performance.now() - t0) / 1000;
      if (code !== 0) {
        throw new UserError(
          `stage ${stage.name} failed (exit code ${code}); fix it and rerun the speedrun (finished stages are ` +
            `skipped), or run it alone: nanochat ${stage.args.join(" ")}`,
        );
      }
      ran.push(stage.name);
      times.push([stage.name, seconds]);
      console.log(`=== ${stage.name}: done in ${formatDuration(seconds)} ===`);
      if (interrupted) {
        console.log(`\nspeedrun interrupted after stage ${stage.name}: rerun the same command to continue`);
        return { ran, skipped };
      }
    }
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
  }

  console.log("\n=== time per stage ===");
  for (const [name, s] of times) console.log(`${name.padEnd(16)} ${formatDuration(s)}`);
  console.log(`${"total".padEnd(16)} ${formatDuration(times.reduce((a, [, s]) => a + s, 0))}`);
  const summary = await summaryOf(join(layout.report(o.baseDir), "report.md"));
  if (summary) console.log(`\n${summary}`);
  return { ran, skipped };
}

/** The report's "## Summary" section, or null. */
async function summaryOf(path: string): Promise<string | null> {
  try {
    const text = await Deno.readTextFile(path);
    const m = /## Summary\n[\s\S]*?(\| Metric[\s\S]*?)\n\n/.exec(text);
    return m ? m[1] : null;
  } catch {
    return null;
  }
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

async function mtime(path: string): Promise<number | null> {
  try {
    return (await Deno.stat(path)).mtime?.getTime() ?? null;
  } catch {
    return null;
  }
}

function minTime(...ts: (number | null)[]): number | null {
  return ts.some((t) => t === null) ? null : Math.min(...(ts as number[]));
}

/** The newest shard's time when at least `n` shards are downloaded, else null. */
async function shardsTime(dir: string, n: number): Promise<number | null> {
  if (!(await isDir(dir))) return null;
  const times: number[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".parquet")) times.push((await mtime(join(dir, e.name))) ?? 0);
  }
  return times.length >= n ? Math.max(...times) : null;
}
