// `nanochat eval base`: a base checkpoint's bits per byte on the train and val shards (nanochat's
// base_loss) and/or its CORE score (nanochat's base_eval), with their CSV/JSON files and report sections.
// Under a launcher (--nproc-per-node, torchrun, SLURM, mpirun) every rank evaluates its share (every
// W-th bpb batch, its CORE examples), the sums meet over the communicator, and rank 0 alone
// prints and writes.
import { layout } from "../common/base_dir.ts";
import { UserError } from "../common/errors.ts";
import type { GPTConfig } from "../model/config.ts";
import { ComputeContext, type DeviceRequest, GPT } from "../model/mod.ts";
import { joinWorld } from "../model/comm.ts";
import { type DistEnv, readDistEnv } from "../dist/mod.ts";
import { logReportSection } from "../report/section.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { checkpointDir, findModelTag, loadCheckpoint } from "../checkpoint/checkpoint.ts";
import { restoreModel } from "../checkpoint/model_io.ts";
import { evaluateBpb, type TokenBatch } from "./bpb.ts";
import { evaluateCore, gptScorer } from "./core.ts";
import { resolveBundle } from "./core_bundle.ts";
import { writeCoreResults } from "./core_report.ts";

/** Options of evalBase (the CLI's flags). */
export interface EvalBaseOptions {
  baseDir: string;
  /** Bits per byte on the train and val splits. */
  bpb: boolean;
  /** The CORE metric. */
  core: boolean;
  modelTag?: string;
  step?: number;
  /** Rows per forward pass (bpb batches, CORE's packed sequences). */
  deviceBatchSize: number;
  splitTokens: number;
  /** CORE examples per task (-1: all). */
  maxPerTask: number;
  /** CORE bundle folder (default <base>/eval_bundle, downloaded when missing). */
  evalBundle?: string;
  /** Compute device (cpu, cuda, auto). */
  device?: DeviceRequest;
  threads: number;
  /** Opens a split's packed batches for bpb (the CLI passes the pretraining loader). */
  openSplit?: (split: "train" | "val", B: number, T: number, tokenizer: Tokenizer) => {
    batches: AsyncIterator<TokenBatch>;
    close(): void;
  };
  tokenizerDir?: string;
  /** This process's rank and world (default: from the environment, readDistEnv). */
  dist?: DistEnv;
}

/** What was measured and where the files went. */
export interface EvalBaseResult {
  bpb?: { train: number; val: number };
  core?: number;
  coreFiles?: { csv: string; json: string };
}

/** Evaluates a base checkpoint. */
export async function evalBase(o: EvalBaseOptions): Promise<EvalBaseResult> {
  if (!Number.isInteger(o.deviceBatchSize) || o.deviceBatchSize < 1) {
    throw new UserError(`--device-batch-size must be at least 1, got ${o.deviceBatchSize}`);
  }
  const tag = o.modelTag ?? await findModelTag(o.baseDir, "base");
  const ckpt = await loadCheckpoint(checkpointDir(o.baseDir, "base", tag), o.step, { loadOptim: false });
  const config = (ckpt.meta as { config: GPTConfig }).config;
  // the bundle is checked before the model is built, so a bad bundle fails fast
  const bundle = o.core ? await resolveBundle(o.baseDir, o.evalBundle) : undefined;
  const tokenizer = Tokenizer.load(o.tokenizerDir ?? layout.tokenizer(o.baseDir));
  if (tokenizer.vocabSize !== config.vocabSize) {
    throw new UserError(
      `the tokenizer has ${tokenizer.vocabSize} tokens but the checkpoint expects ${config.vocabSize}: ` +
        `use the tokenizer it was trained with (--tokenizer-dir)`,
    );
  }
  const B = o.deviceBatchSize;
  const T = config.sequenceLen;
  const ctx = ComputeContext.create({ device: o.device ?? "auto", threads: o.threads });
  const dist = o.dist ?? readDistEnv(Deno.env.toObject());
  const master = dist.rank === 0;
  const log = (line: string) => {
    if (master) console.log(line);
  };
  const comm = await joinWorld(ctx, dist);
  const model = GPT.create(ctx, config, { maxBatch: B });
  const out: EvalBaseResult = {};
  try {
    restoreModel(model, ckpt);
    if (o.bpb) {
      if (!o.openSplit) throw new Error("bits per byte needs openSplit");
      const steps = Math.floor(o.splitTokens / (B * T));
      if (steps < 1) {
        throw new UserError(`--split-tokens ${o.splitTokens} is less than one batch (${B * T} tokens)`);
      }
      const tokenBytes = tokenizer.tokenBytes();
      const bpb: Record<string, number> = {};
      for (const split of ["train", "val"] as const) {
        // every rank reads the whole split and forwards its share of the batches (bpb.ts)
        const loader = o.openSplit(split, B, T, tokenizer);
        try {
          bpb[split] = await evaluateBpb(model, loader.batches, steps, B, T, tokenBytes, comm);
        } finally {
          loader.close();
        }
        log(`${tag} step ${ckpt.step}: ${split} bpb ${bpb[split].toFixed(6)}`);
      }
      out.bpb = { train: bpb.train, val: bpb.val };
      if (master) {
        await logReportSection(o.baseDir, "Base model loss", [{
          model: `${tag} step ${ckpt.step}`,
          "train bpb": bpb.train,
          "val bpb": bpb.val,
        }]);
      }
    }
    if (bundle) {
      log(
        `CORE on ${tag} step ${ckpt.step}: ${bundle.tasks.length} tasks from ${bundle.dir}` +
          (o.maxPerTask > 0 ? `, at most ${o.maxPerTask} examples each` : ""),
      );
      const results = await evaluateCore(gptScorer(model), tokenizer, bundle, {
        maxPerTask: o.maxPerTask,
        shard: comm,
        quiet: !master,
      });
      out.core = results.core;
      if (!master) return out;
      out.coreFiles = await writeCoreResults(o.baseDir, {
        modelTag: tag,
        step: ckpt.step,
        maxPerTask: o.maxPerTask,
        bundleDir: bundle.dir,
      }, results);
      log(`CORE metric: ${results.core.toFixed(4)} (mean over ${results.tasks.length} tasks)`);
      log(`results: ${out.coreFiles.csv}, ${out.coreFiles.json}`);
    }
  } finally {
    model.free();
    comm?.destroy();
    ctx.destroy();
    tokenizer.free();
  }
  return out;
}
