// Where CORE results go: nanochat's CSV (<base>/base_eval/base_model_{step:06d}.csv, which the report
// generator reads), a JSON file beside it with everything (per-task numbers, per-example 0/1 strings for
// cross-checks), and the "Base model evaluation" report section in nanochat's wording.
import { join } from "node:path";
import { writeFileAtomic } from "../common/fs.ts";
import { logReportSection } from "../report/section.ts";
import { CORE_TASK_LABELS } from "./core_bundle.ts";
import type { CoreResults } from "./core.ts";

/** `<base>/base_eval/base_model_{step:06d}` (add .csv or .json). */
export function coreResultsStem(baseDir: string, step: number): string {
  return join(baseDir, "base_eval", `base_model_${String(step).padStart(6, "0")}`);
}

const left = (s: string, w: number) => s.padEnd(w);

/** nanochat's CSV: `Task, Accuracy, Centered` rows padded as its f-strings pad them, then `CORE, , value`. */
export function coreCsv(results: CoreResults): string {
  const lines = [`${left("Task", 35)}, ${left("Accuracy", 10)}, ${left("Centered", 10)}`];
  for (const t of results.tasks) {
    lines.push(
      `${left(t.label, 35)}, ${left(t.accuracy.toFixed(6), 10)}, ${left(t.centered.toFixed(6), 10)}`,
    );
  }
  lines.push(`${left("CORE", 35)}, ${left("", 10)}, ${left(results.core.toFixed(6), 10)}`);
  return lines.join("\n") + "\n";
}

/** Which of the 22 CORE tasks a result covers, for the "how many" line. */
export function coverage(results: CoreResults): { evaluated: number; missing: string[] } {
  const done = new Set(results.tasks.map((t) => t.label));
  return { evaluated: done.size, missing: CORE_TASK_LABELS.filter((l) => !done.has(l)) };
}

/** What a CORE run writes; returns the CSV and JSON paths. */
export async function writeCoreResults(
  baseDir: string,
  info: { modelTag: string; step: number; maxPerTask: number; bundleDir: string },
  results: CoreResults,
): Promise<{ csv: string; json: string }> {
  const stem = coreResultsStem(baseDir, info.step);
  const { evaluated, missing } = coverage(results);
  const json = {
    model: `base_model (step ${info.step})`,
    modelTag: info.modelTag,
    step: info.step,
    maxPerTask: info.maxPerTask,
    bundle: info.bundleDir,
    core: results.core,
    tasksEvaluated: evaluated,
    tasksMissing: missing,
    tasks: results.tasks.map((t) => ({
      label: t.label,
      type: t.taskType,
      fewshot: t.numFewshot,
      examples: t.examples,
      accuracy: t.accuracy,
      centered: t.centered,
      randomBaseline: t.randomBaseline,
      seconds: t.seconds,
      correct: Array.from(t.correct).join(""),
    })),
  };
  await writeFileAtomic(`${stem}.csv`, coreCsv(results));
  await writeFileAtomic(`${stem}.json`, JSON.stringify(json, null, 2) + "\n");
  await logReportSection(baseDir, "Base model evaluation", [
    { "Model": `base_model (step ${info.step})`, "CORE metric": results.core },
    Object.fromEntries(results.tasks.map((t) => [t.label, t.centered])),
    {
      "Tasks evaluated": `${evaluated} of 22${missing.length ? ` (missing: ${missing.join(", ")})` : ""}`,
      "Max per task": info.maxPerTask > 0 ? info.maxPerTask : undefined,
    },
  ]);
  return { csv: `${stem}.csv`, json: `${stem}.json` };
}
