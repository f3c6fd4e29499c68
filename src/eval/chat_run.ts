// `nanochat eval chat`: loads a chat model (mid, sft or rl; base works too), runs the chosen tasks,
// prints a table, and writes <base>/chat_eval/<source>_model_{step:06d}.{csv,json} and the
// "Chat evaluation <source>" report section (the lines nanochat's report generator reads).
// Under a launcher every rank evaluates problems rank, rank + W, ... of each task, the counts are summed
// over the communicator, and rank 0 alone prints and writes.
import { join } from "node:path";
import { UserError } from "../common/errors.ts";
import { writeFileAtomic } from "../common/fs.ts";
import { findModelTag, type Stage, stageDir } from "../checkpoint/checkpoint.ts";
import { loadChatModel } from "../engine/load.ts";
import type { DeviceRequest } from "../model/mod.ts";
import { type Communicator, joinWorld } from "../model/comm.ts";
import { type DistEnv, readDistEnv } from "../dist/mod.ts";
import { logReportSection } from "../report/section.ts";
import type { Task } from "../../tasks/mod.ts";
import {
  chatCore,
  CHATCORE_BASELINES,
  type ChatTaskName,
  type ChatTaskResult,
  loadChatTask,
  runCategorical,
  runGenerative,
} from "./chat_eval.ts";
import { Sandbox } from "./sandbox.ts";

/** The flags of `eval chat`. */
export interface EvalChatOptions {
  baseDir: string;
  source: Stage;
  tasks: ChatTaskName[];
  modelTag?: string;
  step?: number;
  temperature: number;
  maxNewTokens: number;
  numSamples: number;
  topK: number;
  /** Problems per forward pass of categorical tasks. */
  batchSize: number;
  maxProblems?: number;
  /** Offline task data (default: $NANOCHAT_TASK_DATA_DIR, else download). */
  taskDataDir?: string;
  requireSandbox: boolean;
  /** Compute device (cpu, cuda, auto). */
  device?: DeviceRequest;
  threads: number;
  tokenizerDir?: string;
  quiet?: boolean;
  /** This process's rank and world (default: from the environment, readDistEnv). */
  dist?: DistEnv;
}

/** Every task's result, ChatCORE when it applies, and the files written. */
export interface EvalChatResult {
  results: ChatTaskResult[];
  chatCore: number | null;
  files: { csv: string; json: string };
}

const MAKE: Record<Stage, string> = {
  base: "nanochat train base",
  mid: "nanochat train mid",
  sft: "nanochat train sft",
  rl: "nanochat train rl",
};

/** Runs chat evaluation end to end. */
export async function evalChat(o: EvalChatOptions): Promise<EvalChatResult> {
  for (
    const [flag, v, min] of [["--num-samples", o.numSamples, 1], ["--batch-size", o.batchSize, 1], [
      "--max-new-tokens",
      o.maxNewTokens,
      1,
    ], ["--top-k", o.topK, 0]] as const
  ) {
    if (!Number.isInteger(v) || v < min) {
      throw new UserError(`${flag} must be a whole number >= ${min}, got ${v}`);
    }
  }
  if (!(o.temperature >= 0)) throw new UserError(`--temperature must be >= 0, got ${o.temperature}`);
  if (o.modelTag === undefined) {
    try {
      await findModelTag(o.baseDir, o.source);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      throw new UserError(
        `no ${o.source} checkpoint in ${stageDir(o.baseDir, o.source)}: make one with \`${
          MAKE[o.source]
        }\` ` +
          `(or pick another model with -i)`,
      );
    }
  }
  // tasks and the sandbox first: a data or sandbox problem fails before the model loads
  const sandbox = o.tasks.includes("HumanEval")
    ? await Sandbox.create({ requireIsolation: o.requireSandbox })
    : null;
  const dataOpts = { dataDir: o.taskDataDir, baseDir: o.baseDir, quiet: o.quiet };
  const tasks: Task[] = [];
  for (const name of o.tasks) {
    tasks.push(
      await loadChatTask(name, {
        ...dataOpts,
        run: sandbox ? async (p) => (await sandbox.run(p)).success : undefined,
      }),
    );
  }
  const loaded = await loadChatModel({
    baseDir: o.baseDir,
    source: o.source,
    modelTag: o.modelTag,
    step: o.step,
    device: o.device,
    threads: o.threads,
    tokenizerDir: o.tokenizerDir,
    maxBatch: o.batchSize,
  });
  const results: ChatTaskResult[] = [];
  const dist = o.dist ?? readDistEnv(Deno.env.toObject());
  const quiet = o.quiet || dist.rank !== 0;
  let comm: Communicator | null = null;
  try {
    comm = await joinWorld(loaded.model.context, dist);
    const seqLen = loaded.model.config.sequenceLen;
    for (const task of tasks) {
      const r = task.evalType === "categorical"
        ? await runCategorical(task, loaded.tokenizer, loaded.model, {
          batchSize: o.batchSize,
          maxProblems: o.maxProblems,
          quiet,
          shard: comm,
        })
        : await runGenerative(task, loaded.tokenizer, loaded.engine, seqLen, { ...o, quiet, shard: comm });
      results.push(r);
      if (!quiet) {
        console.log(`${r.task} accuracy: ${(100 * r.accuracy).toFixed(2)}% (${r.passed}/${r.total})`);
      }
    }
  } finally {
    comm?.destroy();
    loaded.close();
  }
  const core = chatCore(accuracies(results));
  if (dist.rank !== 0) return { results, chatCore: core, files: { csv: "", json: "" } };
  if (!o.quiet) console.log(formatTable(results, core));
  const files = await writeChatResults(o, loaded.tag, loaded.step, results, core);
  if (!o.quiet) console.log(`results: ${files.csv}, ${files.json}`);
  return { results, chatCore: core, files };
}

function centered(r: ChatTaskResult): number {
  const b = CHATCORE_BASELINES[r.task] ?? 0;
  return (r.accuracy - b) / (1 - b);
}

/** The printed table: task, type, passed/total, accuracy, centered; ChatCORE last. */
export function formatTable(results: ChatTaskResult[], core: number | null): string {
  const lines = [
    `${"Task".padEnd(14)} ${"Type".padEnd(11)} ${"Passed".padStart(11)} ${"Accuracy".padStart(9)} ${
      "Centered".padStart(9)
    }`,
  ];
  for (const r of results) {
    lines.push(
      `${r.task.padEnd(14)} ${r.evalType.padEnd(11)} ${`${r.passed}/${r.total}`.padStart(11)} ` +
        `${r.accuracy.toFixed(4).padStart(9)} ${centered(r).toFixed(4).padStart(9)}`,
    );
  }
  lines.push(
    core === null
      ? "ChatCORE: not computed (needs ARC-Easy, ARC-Challenge, MMLU, GSM8K and HumanEval)"
      : `ChatCORE: ${core.toFixed(4)}`,
  );
  return lines.join("\n");
}

async function writeChatResults(
  o: EvalChatOptions,
  tag: string,
  step: number,
  results: ChatTaskResult[],
  core: number | null,
): Promise<{ csv: string; json: string }> {
  const stem = join(o.baseDir, "chat_eval", `${o.source}_model_${String(step).padStart(6, "0")}`);
  const csv = [`${"Task".padEnd(35)}, ${"Accuracy".padEnd(10)}, ${"Centered".padEnd(10)}`]
    .concat(
      results.map((r) =>
        `${r.task.padEnd(35)}, ${r.accuracy.toFixed(6).padEnd(10)}, ${centered(r).toFixed(6).padEnd(10)}`
      ),
    )
    .concat(
      core === null ? [] : [`${"ChatCORE".padEnd(35)}, ${"".padEnd(10)}, ${core.toFixed(6).padEnd(10)}`],
    );
  const settings = {
    source: o.source,
    modelTag: tag,
    step,
    temperature: o.temperature,
    maxNewTokens: o.maxNewTokens,
    numSamples: o.numSamples,
    topK: o.topK,
    batchSize: o.batchSize,
    maxProblems: o.maxProblems ?? null,
  };
  await writeFileAtomic(`${stem}.csv`, csv.join("\n") + "\n");
  await writeFileAtomic(
    `${stem}.json`,
    JSON.stringify({ ...settings, chatCore: core, tasks: results }, null, 2) + "\n",
  );
  // the settings line leaves out the task list: the report generator finds metrics by task name
  await logReportSection(o.baseDir, `Chat evaluation ${o.source}`, [
    {
      source: o.source,
      model_tag: tag,
      step,
      temperature: o.temperature,
      max_new_tokens: o.maxNewTokens,
      num_samples: o.numSamples,
      top_k: o.topK,
      batch_size: o.batchSize,
      max_problems: o.maxProblems,
    },
    accuracies(results),
    core === null ? null : { "ChatCORE metric": core },
  ]);
  return { csv: `${stem}.csv`, json: `${stem}.json` };
}

function accuracies(results: ChatTaskResult[]): Record<string, number> {
  return Object.fromEntries(results.map((r) => [r.task, r.accuracy]));
}
