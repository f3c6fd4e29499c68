// The report card's plots: one line chart per recorded chart prefix and stage (loss, bpb, accuracy, reward...
// from metrics.ts), CORE per task as bars (from base_eval's CSV), and the summary metrics by stage as bars.
import { join } from "node:path";
import type { MetricPoint, MetricStage } from "./metrics.ts";
import { barChart, lineChart } from "./svg.ts";

/** One plot: its SVG text, the file name it gets, and the report section (slug) it is shown after. */
export interface Plot {
  file: string;
  title: string;
  svg: string;
  /** The slug of the section the plot belongs to ("summary" for the summary chart). */
  after: string;
}

/** The section each stage's series belong to. */
export const STAGE_SECTION: Readonly<Record<MetricStage, string>> = {
  base: "base-model-training",
  mid: "midtraining",
  sft: "chat-sft",
  rl: "chat-rl",
};

const STAGE_LABEL: Readonly<Record<MetricStage, string>> = {
  base: "Base training",
  mid: "Midtraining",
  sft: "SFT",
  rl: "RL",
};

/** Titles and y-axis labels of the chart prefixes the stages record; others use the prefix itself. */
const CHARTS: Readonly<Record<string, { title: string; y: string }>> = {
  loss: { title: "loss", y: "loss (nats per token)" },
  bpb: { title: "validation bits per byte", y: "bits per byte" },
  accuracy: { title: "accuracy", y: "accuracy" },
  reward: { title: "reward", y: "mean reward" },
  "pass@k": { title: "pass@k", y: "pass rate" },
  lr: { title: "learning-rate multiplier", y: "lr multiplier" },
};

/** Legend names of well-known series; others show the part after the prefix. */
const SERIES_LABEL: Readonly<Record<string, string>> = {
  "loss/train": "train loss",
  "loss/train_smooth": "train loss (EMA)",
  "loss/val": "validation loss",
  "bpb/val": "validation bpb",
};

/** Line charts of one stage's series, grouped by chart prefix (the part of the key before "/"). */
export function stagePlots(stage: MetricStage, series: Map<string, MetricPoint[]>): Plot[] {
  const groups = new Map<string, [string, MetricPoint[]][]>();
  for (const [key, points] of series) {
    if (points.length === 0) continue;
    const slash = key.indexOf("/");
    const group = slash > 0 ? key.slice(0, slash) : key;
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group)!.push([key, points]);
  }
  const order = Object.keys(CHARTS);
  const rank = (g: string) => (order.includes(g) ? order.indexOf(g) : order.length);
  const plots: Plot[] = [];
  for (const [group, members] of [...groups].sort((a, b) => rank(a[0]) - rank(b[0]))) {
    const chart = CHARTS[group] ?? { title: group, y: group };
    const title = `${STAGE_LABEL[stage]}: ${chart.title}`;
    plots.push({
      file: `${stage}-${group.replace(/[^A-Za-z0-9_-]+/g, "-")}.svg`,
      title,
      after: STAGE_SECTION[stage],
      svg: lineChart({
        title,
        xLabel: "step",
        yLabel: chart.y,
        series: members.map(([key, points]) => ({
          name: SERIES_LABEL[key] ?? (key.includes("/") ? key.slice(key.indexOf("/") + 1) : key),
          points: points.map((p) => ({ x: p.step, y: p.value })),
        })),
      }),
    });
  }
  return plots;
}

/** One row of nanochat's base_eval CSV. */
export interface CoreRow {
  task: string;
  accuracy: number;
  centered: number;
}

/** Parses nanochat's `base_model_{step:06d}.csv` (`Task, Accuracy, Centered` rows, then `CORE,,value`). */
export function parseCoreCsv(text: string): { tasks: CoreRow[]; core: number | null } {
  const tasks: CoreRow[] = [];
  let core: number | null = null;
  for (const line of text.split(/\r?\n/)) {
    const cells = line.split(",").map((c) => c.trim());
    if (cells.length !== 3 || cells[0] === "" || cells[0] === "Task") continue;
    const centered = Number(cells[2]);
    if (cells[0] === "CORE") {
      if (Number.isFinite(centered) && cells[2] !== "") core = centered;
      continue;
    }
    const accuracy = Number(cells[1]);
    if (cells[1] !== "" && cells[2] !== "" && Number.isFinite(accuracy) && Number.isFinite(centered)) {
      tasks.push({ task: cells[0], accuracy, centered });
    }
  }
  return { tasks, core };
}

/**
 * The base_eval CSV to plot: the step named by the "Base model evaluation" section (`base_model (step N)`)
 * when given and present, else the highest step found.
 */
export async function findCoreCsv(baseDir: string, step: number | null): Promise<string | null> {
  const dir = join(baseDir, "base_eval");
  const steps: number[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = /^base_model_(\d{6,})\.csv$/.exec(e.name);
      if (e.isFile && m) steps.push(Number(m[1]));
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
  if (steps.length === 0) return null;
  const pick = step !== null && steps.includes(step) ? step : Math.max(...steps);
  return join(dir, `base_model_${String(pick).padStart(6, "0")}.csv`);
}

/** CORE per task as bars (accuracy and centered accuracy), or null when the CSV has no task rows. */
export function corePlot(csvText: string, csvName: string): Plot | null {
  const { tasks, core } = parseCoreCsv(csvText);
  if (tasks.length === 0) return null;
  const title = `CORE per task (${csvName}${core !== null ? `, CORE ${core.toFixed(4)}` : ""})`;
  return {
    file: "base-core.svg",
    title,
    after: "base-model-evaluation",
    svg: barChart({
      title,
      categories: tasks.map((t) => t.task),
      series: [
        { name: "accuracy", values: tasks.map((t) => t.accuracy) },
        { name: "centered", values: tasks.map((t) => t.centered) },
      ],
      valueLabel: "score (centered = (accuracy - baseline) / (1 - baseline))",
    }),
  };
}

/** The summary metrics (rows) by stage (bars), or null when there is none. */
export function summaryPlot(
  metrics: readonly string[],
  stages: readonly string[],
  value: (metric: string, stage: string) => number | null,
): Plot | null {
  const used = stages.filter((s) => metrics.some((m) => value(m, s) !== null));
  const rows = metrics.filter((m) => used.some((s) => value(m, s) !== null));
  if (rows.length === 0) return null;
  return {
    file: "summary.svg",
    title: "Summary: metrics by stage",
    after: "summary",
    svg: barChart({
      title: "Summary: metrics by stage",
      categories: [...rows],
      series: used.map((s) => ({ name: s.toUpperCase(), values: rows.map((m) => value(m, s)) })),
      valueLabel: "score",
    }),
  };
}
