// The metrics recorder: per-step training series (loss, bpb, accuracy, reward...) that the report card plots.
//
// File format: `<base>/report/metrics-<stage>.jsonl`, one JSON object per line, appended as training goes:
//   {"step": 12, "time": 1760000000.123, "loss/train": 3.2107, "loss/train_smooth": 3.4}
//   {"step": 250, "time": 1760000050.0, "bpb/val": 1.0312}
//   {"step": 250, "checkpoint": true}
// Keys other than `step`, `time` and `checkpoint` are series named `<chart>/<series>`: every series sharing a
// chart prefix is drawn in one chart (see plots.ts). Values are finite numbers; a non-finite value is left out.
//
// Crash safety: each line is written with one append-mode write, so earlier lines are never touched; a crash
// can at worst leave a partial last line, which `open` cuts off before appending and readers skip. Resume:
// `markCheckpoint(step)` appends a marker when the trainer saves; `open(..., {resumeFrom: step})` truncates
// the file just after the last marker for that step, so the file again holds exactly what was recorded up to
// the checkpoint and the resumed run appends the rest. Readers keep the last value per (series, step).
import { join } from "node:path";
import { layout } from "../common/base_dir.ts";
import { fsErrorToUserError } from "../common/fs.ts";

/** The training stages that record series. */
export type MetricStage = "base" | "mid" | "sft" | "rl";
export const METRIC_STAGES: readonly MetricStage[] = ["base", "mid", "sft", "rl"];

/** One point of a series. */
export interface MetricPoint {
  step: number;
  value: number;
}

/** `<base>/report/metrics-<stage>.jsonl`. */
export function metricsPath(baseDir: string, stage: MetricStage): string {
  return join(layout.report(baseDir), `metrics-${stage}.jsonl`);
}

const RESERVED = new Set(["step", "time", "checkpoint"]);
const encoder = new TextEncoder();

export interface OpenMetricsOptions {
  /** Continue a run resumed from this checkpoint step (keep what was recorded up to its marker). */
  resumeFrom?: number;
}

/** Appends one stage's series; open it when the stage starts, close it when it ends. */
export class MetricsRecorder {
  private constructor(readonly path: string, private file: Deno.FsFile | null) {}

  /**
   * Opens the stage's file: a fresh run starts it empty; a resumed run keeps the lines up to its
   * checkpoint's marker (or everything, when there is no marker: readers then keep the last value per step).
   */
  static async open(
    baseDir: string,
    stage: MetricStage,
    options: OpenMetricsOptions = {},
  ): Promise<MetricsRecorder> {
    const path = metricsPath(baseDir, stage);
    try {
      await Deno.mkdir(layout.report(baseDir), { recursive: true });
      if (options.resumeFrom === undefined) await Deno.writeFile(path, new Uint8Array());
      else await truncateAfterMarker(path, options.resumeFrom);
      const file = await Deno.open(path, { append: true, create: true });
      return new MetricsRecorder(path, file);
    } catch (err) {
      throw fsErrorToUserError(err, path);
    }
  }

  /** Records the values of one step (non-finite values are left out; nothing is written if none remain). */
  record(step: number, values: Record<string, number>): void {
    const line: Record<string, number> = { step, time: Date.now() / 1000 };
    let any = false;
    for (const [key, value] of Object.entries(values)) {
      if (RESERVED.has(key)) throw new Error(`"${key}" is reserved in the metrics file`);
      if (typeof value === "number" && Number.isFinite(value)) {
        line[key] = value;
        any = true;
      }
    }
    if (any) this.#append(line);
  }

  /** Marks that a checkpoint of `step` was saved: a run resumed from it keeps the lines up to here. */
  markCheckpoint(step: number): void {
    this.#append({ step, checkpoint: true });
  }

  #append(obj: Record<string, unknown>): void {
    if (!this.file) throw new Error(`the metrics file ${this.path} is closed`);
    const bytes = encoder.encode(JSON.stringify(obj) + "\n");
    try {
      // one write of the whole line: O_APPEND puts it after everything else, never over it
      let done = 0;
      while (done < bytes.length) done += this.file.writeSync(bytes.subarray(done));
    } catch (err) {
      throw fsErrorToUserError(err, this.path);
    }
  }

  /** Flushes to disk and closes the file. */
  close(): void {
    if (!this.file) return;
    try {
      this.file.syncSync();
    } catch { /* a full disk was already reported by the write that failed */ }
    this.file.close();
    this.file = null;
  }
}

/** Cuts a partial last line and, for a resume, everything after the last checkpoint marker of `step`. */
async function truncateAfterMarker(path: string, step: number): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  let keep = text.lastIndexOf("\n") + 1; // drop a partial last line
  let offset = 0;
  for (const line of text.slice(0, keep).split("\n")) {
    offset += line.length + 1;
    const rec = parseLine(line);
    if (rec?.checkpoint === true && rec.step === step) keep = offset;
  }
  const keepBytes = encoder.encode(text.slice(0, keep)).length;
  await Deno.truncate(path, keepBytes);
}

function parseLine(line: string): Record<string, unknown> | null {
  if (!line.trim()) return null;
  try {
    const obj = JSON.parse(line);
    return typeof obj === "object" && obj !== null && typeof obj.step === "number" ? obj : null;
  } catch {
    return null; // a partial line left by a crash
  }
}

/** Every series of a stage, each sorted by step (last value wins per step); empty when nothing was recorded. */
export async function readMetrics(baseDir: string, stage: MetricStage): Promise<Map<string, MetricPoint[]>> {
  let text = "";
  try {
    text = await Deno.readTextFile(metricsPath(baseDir, stage));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return parseMetrics(text);
}

/** Parses a metrics file's text (see the file comment). */
export function parseMetrics(text: string): Map<string, MetricPoint[]> {
  const byKey = new Map<string, Map<number, number>>();
  for (const line of text.split("\n")) {
    const rec = parseLine(line);
    if (!rec || rec.checkpoint) continue;
    for (const [key, value] of Object.entries(rec)) {
      if (RESERVED.has(key) || typeof value !== "number" || !Number.isFinite(value)) continue;
      if (!byKey.has(key)) byKey.set(key, new Map());
      byKey.get(key)!.set(rec.step as number, value);
    }
  }
  const out = new Map<string, MetricPoint[]>();
  for (const [key, points] of byKey) {
    out.set(key, [...points].map(([step, value]) => ({ step, value })).sort((a, b) => a.step - b.step));
  }
  return out;
}
