// `nanochat report`: stitches the header and the stages' sections into report.md, as nanochat's report.py,
// with plots (SVG files in report-plots/ next to it) and a summary table of the headline metrics.
//
// Conventions the generator relies on (the stages write them with logReportSection):
// - section files `<base>/report/<slug>.md`, each starting `## <Section>` then `timestamp: YYYY-mm-dd HH:MM:SS`;
// - metric lines `- <Key>: <number>` with the exact keys below: "Base model evaluation" has `- CORE metric: x`;
//   "Chat evaluation {mid|sft|rl}" has `- ARC-Easy: x`, `- ARC-Challenge: x`, `- MMLU: x`, `- GSM8K: x`,
//   `- HumanEval: x`, `- ChatCORE metric: x` (a key matches only as a whole, never as a substring);
// - header.md (from `report reset`) has `Run started: <timestamp>`, the `### Bloat` list and `- Hourly Rate:`.
import { join } from "node:path";
import { layout } from "../common/base_dir.ts";
import { fsErrorToUserError, writeFileAtomic } from "../common/fs.ts";
import { METRIC_STAGES, readMetrics } from "./metrics.ts";
import { corePlot, findCoreCsv, type Plot, STAGE_SECTION, stagePlots, summaryPlot } from "./plots.ts";
import { parseTimestamp } from "./section.ts";

/** The sections in report order (nanochat's EXPECTED_FILES), with the titles the stages log them under. */
export const SECTIONS: readonly { slug: string; title: string }[] = [
  ["tokenizer-training", "Tokenizer training"],
  ["tokenizer-evaluation", "Tokenizer evaluation"],
  ["base-model-training", "Base model training"],
  ["base-model-loss", "Base model loss"],
  ["base-model-evaluation", "Base model evaluation"],
  ["midtraining", "Midtraining"],
  ["chat-evaluation-mid", "Chat evaluation mid"],
  ["chat-sft", "Chat SFT"],
  ["chat-evaluation-sft", "Chat evaluation sft"],
  ["chat-rl", "Chat RL"],
  ["chat-evaluation-rl", "Chat evaluation rl"],
].map(([slug, title]) => ({ slug, title }));

/** The summary table's rows: CORE first, ChatCORE last, the rest alphabetical (nanochat's order). */
export const SUMMARY_METRICS = [
  "CORE",
  "ARC-Challenge",
  "ARC-Easy",
  "GSM8K",
  "HumanEval",
  "MMLU",
  "ChatCORE",
];
/** The summary table's columns. */
export const SUMMARY_STAGES = ["base", "mid", "sft", "rl"] as const;

const CHAT_KEYS: Record<string, string> = {
  "ARC-Easy": "ARC-Easy",
  "ARC-Challenge": "ARC-Challenge",
  "MMLU": "MMLU",
  "GSM8K": "GSM8K",
  "HumanEval": "HumanEval",
  "ChatCORE metric": "ChatCORE",
};

/** Which section fills which column of the summary, and the line keys it is read from. */
const METRIC_SOURCES: Record<string, { stage: string; keys: Record<string, string> }> = {
  "base-model-evaluation": { stage: "base", keys: { "CORE metric": "CORE" } },
  "chat-evaluation-mid": { stage: "mid", keys: CHAT_KEYS },
  "chat-evaluation-sft": { stage: "sft", keys: CHAT_KEYS },
  "chat-evaluation-rl": { stage: "rl", keys: CHAT_KEYS },
};

/** RL is experimental in nanochat: its sections do not count toward the total wall clock time. */
const NOT_TIMED = new Set(["chat-rl", "chat-evaluation-rl"]);

/** The folder of plot files, next to report.md (the same relative name in the copy made in the cwd). */
export const PLOTS_DIR = "report-plots";

/** The value of the line `- <key>: <value>` (exact key), or undefined. */
export function sectionValue(section: string, key: string): string | undefined {
  const prefix = `- ${key}: `;
  for (const line of section.split("\n")) {
    if (line.startsWith(prefix)) return line.slice(prefix.length).trim();
  }
  return undefined;
}

/** The timestamp on the first line starting with `prefix` (e.g. "timestamp:" or "Run started:"). */
function findTimestamp(text: string, prefix: string): Date | null {
  const line = text.split("\n").find((l) => l.startsWith(prefix));
  return line === undefined ? null : parseTimestamp(line.slice(prefix.length));
}

/** Hours and minutes, as nanochat prints the total time: `3h51m`. */
export function formatWallClock(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(total / 3600)}h${Math.floor((total % 3600) / 60)}m`;
}

export interface Report {
  /** <base>/report/report.md */
  path: string;
  markdown: string;
  plots: Plot[];
  /** Slugs of the expected sections that were not found. */
  missing: string[];
  /** Whether header.md was there (`report reset` writes it). */
  hasHeader: boolean;
  /** metric -> stage -> the value as written in its section. */
  summary: Map<string, Map<string, string>>;
  /** Total wall clock time in ms, or null when unknown. */
  wallClockMs: number | null;
}

async function readOptional(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

function costLine(header: string, wallClockMs: number | null): string {
  const rate = sectionValue(header, "Hourly Rate");
  const gpus = sectionValue(header, "GPUs");
  const perHour = rate ? /^\$([\d.]+)\/hour/.exec(rate)?.[1] : undefined;
  if (perHour === undefined) {
    return gpus?.startsWith("None")
      ? "Estimated cost: none (CPU only: no GPU hours)"
      : "Estimated cost: unknown";
  }
  if (wallClockMs === null) return `Estimated cost: unknown (at $${perHour}/hour; no wall clock time)`;
  const count = Number(/^(\d+)x/.exec(gpus ?? "")?.[1] ?? 1);
  const hours = wallClockMs / 3_600_000;
  return `Estimated cost: $${(Number(perHour) * hours).toFixed(2)} ` +
    `(${count} GPU${count === 1 ? "" : "s"} x ${formatWallClock(wallClockMs)} = ` +
    `${(count * hours).toFixed(2)} GPU-hours at $${perHour}/hour)`;
}

function summaryTable(summary: Map<string, Map<string, string>>): string[] {
  const mw = 15, vw = 8;
  const lines = [
    `| ${"Metric".padEnd(mw)} |` + SUMMARY_STAGES.map((s) => ` ${s.toUpperCase().padEnd(vw)} |`).join(""),
    `|${"-".repeat(mw + 2)}|` + SUMMARY_STAGES.map(() => `${"-".repeat(vw + 2)}|`).join(""),
  ];
  for (const metric of SUMMARY_METRICS) {
    const row = summary.get(metric);
    lines.push(
      `| ${metric.padEnd(mw)} |` +
        SUMMARY_STAGES.map((s) => ` ${(row?.get(s) ?? "-").padEnd(vw)} |`).join(""),
    );
  }
  return lines;
}

/** Builds report.md and its plots from what is under <base>/report (and base_eval's CSV) and writes them. */
export async function generateReport(baseDir: string): Promise<Report> {
  const dir = layout.report(baseDir);
  const header = await readOptional(join(dir, "header.md"));
  const out: string[] = [header ?? ""];
  const plots: Plot[] = [];
  const missing: string[] = [];
  const summary = new Map<string, Map<string, string>>();
  let endTime: Date | null = null;

  const stagePlotsBySection = new Map<string, Plot[]>();
  for (const stage of METRIC_STAGES) {
    stagePlotsBySection.set(STAGE_SECTION[stage], stagePlots(stage, await readMetrics(baseDir, stage)));
  }

  for (const { slug, title } of SECTIONS) {
    const text = await readOptional(join(dir, `${slug}.md`));
    const these = [...(stagePlotsBySection.get(slug) ?? [])];
    if (text === null) missing.push(slug);
    else {
      if (!NOT_TIMED.has(slug)) endTime = findTimestamp(text, "timestamp:") ?? endTime;
      const source = METRIC_SOURCES[slug];
      for (const [key, metric] of Object.entries(source?.keys ?? {})) {
        const value = sectionValue(text, key);
        if (value === undefined || value === "" || !Number.isFinite(Number(value))) continue;
        if (!summary.has(metric)) summary.set(metric, new Map());
        summary.get(metric)!.set(source.stage, value);
      }
      if (slug === "base-model-evaluation") {
        const step = /\(step (\d+)\)/.exec(sectionValue(text, "Model") ?? "")?.[1];
        const csv = await findCoreCsv(baseDir, step === undefined ? null : Number(step));
        const plot = csv === null ? null : corePlot(await Deno.readTextFile(csv), csv.split("/").pop()!);
        if (plot) these.push(plot);
      }
      out.push(text.endsWith("\n") ? text : text + "\n");
    }
    if (these.length > 0) {
      if (text === null) out.push(`## ${title}\n(no section logged yet: plots of what was recorded)\n\n`);
      for (const p of these) out.push(`![${p.title}](${PLOTS_DIR}/${p.file})\n\n`);
      plots.push(...these);
    }
  }

  const startTime = header === null ? null : findTimestamp(header, "Run started:");
  const wallClockMs = startTime && endTime ? endTime.getTime() - startTime.getTime() : null;
  const bloat = header === null ? "[bloat data missing]" : /### Bloat\n(.*?)\n\n/s.exec(header)?.[1] ?? "";
  out.push(`## Summary\n\n${bloat}\n\n`, summaryTable(summary).join("\n") + "\n\n");
  out.push(`Total wall clock time: ${wallClockMs === null ? "unknown" : formatWallClock(wallClockMs)}\n`);
  out.push(costLine(header ?? "", wallClockMs) + "\n\n");
  const summaryChart = summaryPlot(
    SUMMARY_METRICS,
    SUMMARY_STAGES,
    (m, s) => summary.get(m)?.get(s) === undefined ? null : Number(summary.get(m)!.get(s)),
  );
  if (summaryChart) {
    plots.push(summaryChart);
    out.push(`![${summaryChart.title}](${PLOTS_DIR}/${summaryChart.file})\n`);
  }

  const markdown = out.join("");
  const path = join(dir, "report.md");
  await writePlots(join(dir, PLOTS_DIR), plots);
  await writeFileAtomic(path, markdown);
  return { path, markdown, plots, missing, hasHeader: header !== null, summary, wallClockMs };
}

/** Writes the plot files and removes stale SVGs left in the folder by an earlier report. */
export async function writePlots(plotDir: string, plots: readonly Plot[]): Promise<void> {
  const keep = new Set(plots.map((p) => p.file));
  try {
    for await (const e of Deno.readDir(plotDir)) {
      if (e.isFile && e.name.endsWith(".svg") && !keep.has(e.name)) await Deno.remove(join(plotDir, e.name));
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw fsErrorToUserError(err, plotDir);
  }
  for (const p of plots) await writeFileAtomic(join(plotDir, p.file), p.svg);
}
