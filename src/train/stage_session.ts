// The native session of a finetuning stage (mid, sft, rl): join the data-parallel world, resume the stage's
// own latest checkpoint or load the source weights with a fresh optimizer, open rank 0's metrics; the
// per-step stop agreement over the ranks; and the teardown, in the one order that is safe (the model before
// the communicator it is attached to, the context last); and the save with the stage's fixed meta (config,
// user config, model tag) and keep-last. One place, so the stages cannot drift apart.
// Also what every stage (base too) shares around it: the run options, the compute dtype and its log line.
import type { LoadedCheckpoint } from "../checkpoint/checkpoint.ts";
import { restoreModel } from "../checkpoint/model_io.ts";
import type { DistEnv } from "../dist/env.ts";
import type { GPTConfig } from "../model/config.ts";
import { type Communicator, joinWorld } from "../model/comm.ts";
import type { ComputeContext, DeviceRequest } from "../model/context.ts";
import type { GPT } from "../model/gpt.ts";
import { MetricsRecorder, type MetricStage } from "../report/metrics.ts";
import { resumeStage, saveStage, type StageMeta, type StageWorld, userConfig } from "./stage_checkpoint.ts";

/**
 * nanochat trains in bf16 autocast on CUDA: here bf16 compute with fp32 master weights where the device
 * runs it, fp32 elsewhere (the CPU).
 */
export function stageComputeDtype(ctx: ComputeContext): "bf16" | "f32" {
  return ctx.device.computeDtypes.includes("bf16") ? "bf16" : "f32";
}

/** A stage's first log line: the device, the compute dtype and the ranks. */
export function describeStageDevice(ctx: ComputeContext, dtype: string, worldSize: number): string {
  return `device ${ctx.describe()}, ${dtype} compute${worldSize > 1 ? `, ${worldSize} ranks` : ""}`;
}

/** The options every training stage takes besides its own (the flags of the same names). */
export interface StageRunOptions {
  baseDir: string;
  saveEvery: number;
  keepLast: number;
  /** Resume the stage's own latest checkpoint when there is one. */
  resume: boolean;
  /** cpu, cuda or auto. */
  device: DeviceRequest;
  threads: number;
  peakFlops?: number;
  /** Print one line per this many steps (1 = every step). */
  logEvery: number;
  /** Save and stop once this many steps are done (-1: run to the end), to split a long run. */
  stopAfter: number;
  /** This process's rank and world (default: from the environment, readDistEnv). */
  dist?: DistEnv;
}

export interface StageSessionOptions {
  ctx: ComputeContext;
  model: GPT;
  config: GPTConfig;
  dist: DistEnv;
  /** The stage's own checkpoint directory. */
  ckptDir: string;
  /** The weights a fresh run starts from (its optimizer starts fresh). */
  source: LoadedCheckpoint;
  stage: MetricStage;
  /** The stage's model tag, saved in every checkpoint's meta. */
  modelTag: string;
  /** Rank 0's logger. */
  log: (...args: unknown[]) => void;
}

/** What a stage's save adds to the meta the session holds. */
export type StageSaveState<L, S> = Pick<StageMeta<L, S>, "loaderState" | "loopState" | "final" | "source">;

export class StageSession<L, S> {
  private constructor(
    readonly ctx: ComputeContext,
    readonly model: GPT,
    readonly world: StageWorld,
    private readonly saveAs: Pick<StageSessionOptions, "ckptDir" | "config" | "modelTag"> & {
      userConfig: Record<string, unknown>;
      keepLast: number;
    },
    /** The stage's resumed checkpoint meta, or null for a fresh run. */
    readonly resumed: StageMeta<L, S> | null,
    /** Rank 0's metrics series (null on the other ranks). */
    readonly metrics: MetricsRecorder | null,
  ) {}

  /**
   * Joins, resumes or restores, and opens the metrics; on failure frees `model` and `ctx` and rethrows.
   * `run` is the stage's whole options object: its plain values are the user config every save records.
   */
  static async open<L, S>(run: StageRunOptions, o: StageSessionOptions): Promise<StageSession<L, S>> {
    const { ctx, model, ckptDir } = o;
    const { rank, worldSize } = o.dist;
    let comm = null;
    try {
      comm = await joinWorld(ctx, o.dist);
      model.attachComm(comm);
      const world = { comm, rank, worldSize };
      const resumed = run.resume ? await resumeStage<L, S>(ckptDir, model, o.config, world) : null;
      if (run.resume && resumed === null) o.log(`--resume: no checkpoint in ${ckptDir} yet, starting fresh`);
      if (resumed !== null) o.log(`resumed from ${ckptDir} step ${resumed.step}`);
      else restoreModel(model, o.source); // weights only: the optimizer starts fresh
      // the series for the report's plots, continued on resume
      const metrics = rank === 0
        ? await MetricsRecorder.open(run.baseDir, o.stage, resumed ? { resumeFrom: resumed.step } : {})
        : null;
      const saveAs = {
        ckptDir,
        config: o.config,
        modelTag: o.modelTag,
        userConfig: userConfig(run),
        keepLast: run.keepLast,
      };
      return new StageSession(ctx, model, world, saveAs, resumed, metrics);
    } catch (err) {
      model.free(); // before the communicator it is attached to
      comm?.destroy();
      ctx.destroy();
      throw err;
    }
  }

  get comm(): Communicator | null {
    return this.world.comm;
  }

  /**
   * This step's stop decision: true on every rank when any rank asked for one, so all stop after the same
   * step. Call it before anything else of the step awaits.
   */
  async agreeStop(requested: boolean): Promise<boolean> {
    const comm = this.world.comm;
    if (!comm) return requested;
    const flag = new Float64Array([requested ? 1 : 0]);
    await comm.allReduceSum(flag);
    return flag[0] > 0;
  }

  /** Saves the stage's checkpoint of `step` (every rank calls it) and marks it in rank 0's metrics. */
  async save(step: number, state: StageSaveState<L, S>): Promise<void> {
    const { ckptDir, config, modelTag, userConfig, keepLast } = this.saveAs;
    await saveStage<L, S>(
      ckptDir,
      this.model,
      { step, config, userConfig, modelTag, ...state },
      keepLast,
      this.world,
    );
    this.metrics?.markCheckpoint(step);
  }

  /** Closes the metrics and frees the model, the communicator and the context (call it in a finally). */
  close(): void {
    this.metrics?.close();
    this.model.free(); // before the communicator it is attached to
    this.world.comm?.destroy();
    this.ctx.destroy();
  }
}
