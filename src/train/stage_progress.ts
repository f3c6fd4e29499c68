// What every training stage prints about time: the estimate before a long run starts (from FLOPs and the
// device's peak, with a warning when it is absurd for the device), progress inside a step that takes more
// than a few seconds, and the ETA of the progress lines.
import { formatDuration } from "../common/fs.ts";
import type { ComputeContext } from "../model/context.ts";
import { cpuPeakFlops, gpuPeakFlops } from "./peak_flops.ts";

/** The device's peak FLOP/s: --peak-flops, else the GPU table or the CPU estimate; null when unknown. */
export function devicePeak(ctx: ComputeContext, threads: number, override?: number): number | null {
  if (override !== undefined) return override;
  return ctx.device.kind === "cuda"
    ? gpuPeakFlops(ctx.device.name)
    : cpuPeakFlops(threads > 0 ? threads : navigator.hardwareConcurrency);
}

/**
 * The share of the peak a training step reaches, for the estimate: nanochat's d20 runs near 40% MFU on
 * H100s; this library's CPU kernels reach roughly a quarter of the theoretical fp32 peak on mid-size models.
 */
const ASSUMED_MFU = { cpu: 0.25, cuda: 0.4 } as const;

/** A run this long on a CPU is a mistake worth saying out loud before it starts. */
const CPU_WARN_SECONDS = 2 * 3600;
const GPU_WARN_SECONDS = 3 * 24 * 3600;

export interface RunEstimate {
  stepSeconds: number;
  totalSeconds: number;
  /** The warning line, when the estimate is absurd for the device. */
  warning: string | null;
}

/** Estimates step and total time; null when the peak is unknown. */
export function estimateRun(o: {
  flopsPerStep: number;
  steps: number;
  peak: number | null;
  deviceKind: "cpu" | "cuda";
}): RunEstimate | null {
  if (!o.peak || !(o.flopsPerStep > 0)) return null;
  const stepSeconds = o.flopsPerStep / (o.peak * ASSUMED_MFU[o.deviceKind]);
  const totalSeconds = stepSeconds * Math.max(0, o.steps);
  let warning: string | null = null;
  if (o.deviceKind === "cpu" && totalSeconds > CPU_WARN_SECONDS) {
    warning =
      `warning: about ${formatDuration(totalSeconds)} on this CPU (${
        formatDuration(stepSeconds)
      } per step): ` +
      `pass --device cuda on a GPU machine, or train a smaller model (--depth, --num-iterations, batch sizes)`;
  } else if (o.deviceKind === "cuda" && totalSeconds > GPU_WARN_SECONDS) {
    warning = `warning: about ${
      formatDuration(totalSeconds)
    } on this GPU: use more GPUs or a smaller --depth`;
  }
  return { stepSeconds, totalSeconds, warning };
}

/** Prints the estimate (and its warning) before the first step. */
export function printRunEstimate(
  o: Parameters<typeof estimateRun>[0] & { label?: string },
): RunEstimate | null {
  const e = estimateRun(o);
  if (e === null) {
    console.log("estimate: the device's peak FLOP/s is unknown (pass --peak-flops for MFU and an estimate)");
    return null;
  }
  console.log(
    `estimate: ~${formatDuration(e.stepSeconds)} per step, ~${
      formatDuration(e.totalSeconds)
    } for ${o.steps} ` +
      `${o.label ?? "steps"} (${(o.flopsPerStep / 1e9).toFixed(1)} GFLOP per step at ` +
      `${(100 * ASSUMED_MFU[o.deviceKind]).toFixed(0)}% of ${(o.peak! / 1e12).toFixed(2)} TFLOP/s)`,
  );
  if (e.warning) console.log(e.warning); // on stdout, right after the estimate it explains
  return e;
}

/**
 * Lines within a long step: once a step has run `everyMs`, a line every `everyMs` saying how far it is
 * ("micro-batch 3/16, 12.0s") from a timer, so even a single slow micro-batch (the native calls run off
 * the main thread) shows the run is alive.
 */
export class StepProgress {
  #t0 = 0;
  #done = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(readonly label: string, readonly total: number, readonly everyMs = 5000) {}

  /** Call at the start of each step. */
  start(step: number): void {
    this.end();
    this.#t0 = performance.now();
    this.#done = 0;
    this.#timer = setInterval(() => {
      const elapsed = (performance.now() - this.#t0) / 1000;
      const left = this.#done > 0
        ? `, ~${formatDuration(elapsed / this.#done * (this.total - this.#done))} left`
        : "";
      console.error(
        `  ${this.label} ${step}: micro-batch ${Math.min(this.#done + 1, this.total)}/${this.total}, ` +
          `${formatDuration(elapsed)} so far${left}`,
      );
    }, this.everyMs);
  }

  /** Call after micro-batch `done` of `total`. */
  tick(done: number): void {
    this.#done = done;
  }

  /** Call when the step is done (and in a finally, so no timer outlives the loop). */
  end(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** Time left from a smoothed step time: the mean of the steps timed so far in this process. */
export class EtaClock {
  #seconds = 0;
  #steps = 0;

  /** Adds one step's duration. */
  add(dt: number): void {
    this.#seconds += dt;
    this.#steps++;
  }

  /** The ETA for `stepsLeft` more steps, formatted. */
  eta(stepsLeft: number): string {
    if (this.#steps === 0) return "?";
    return formatDuration(Math.max(0, stepsLeft) * this.#seconds / this.#steps);
  }
}

/** A step number as the progress lines print it (5 digits, as nanochat). */
export function padStep(n: number): string {
  return String(n).padStart(5, "0");
}
