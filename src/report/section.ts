// Writes one section of the run's report card (<base>/report/<slug>.md), in nanochat's format, so
// `nanochat report` can later stitch the stages together.
import { join } from "node:path";
import { layout } from "../common/base_dir.ts";
import { writeFileAtomic } from "../common/fs.ts";

export type ReportValue = string | number | boolean | null | undefined;
export type ReportItem = string | Record<string, ReportValue> | null | undefined | false;

/** Renders a value as nanochat does: floats with 4 decimals, large integers with thousands separators. */
export function formatReportValue(v: ReportValue): string {
  if (typeof v === "number") {
    if (Number.isInteger(v)) return v >= 10000 ? v.toLocaleString("en-US") : String(v);
    return v.toFixed(4);
  }
  return String(v);
}

/** Local time as nanochat writes it: `YYYY-mm-dd HH:MM:SS`. */
export function formatTimestamp(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Parses a `YYYY-mm-dd HH:MM:SS` local timestamp; null when malformed. */
export function parseTimestamp(s: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(s.trim());
  if (!m) return null;
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number);
  const date = new Date(y, mo - 1, d, h, mi, se);
  return date.getMonth() === mo - 1 && date.getDate() === d ? date : null;
}

/** The file name of a section: lowercase, spaces as dashes (nanochat's slug), plus ".md". */
export function sectionFile(section: string): string {
  return `${section.toLowerCase().replaceAll(" ", "-")}.md`;
}

/** The markdown of one section; empty items are skipped. */
export function renderSection(section: string, items: ReportItem[], now = new Date()): string {
  const out = [`## ${section}`, `timestamp: ${formatTimestamp(now)}`, ""];
  for (const item of items) {
    if (!item) continue;
    if (typeof item === "string") out.push(item);
    else {
      for (const [k, v] of Object.entries(item)) {
        if (v !== undefined) out.push(`- ${k}: ${formatReportValue(v)}`);
      }
    }
  }
  return out.join("\n") + "\n\n";
}

/** Writes the section file atomically and returns its path. */
export async function logReportSection(
  baseDir: string,
  section: string,
  items: ReportItem[],
): Promise<string> {
  const path = join(layout.report(baseDir), sectionFile(section));
  await writeFileAtomic(path, renderSection(section, items));
  return path;
}
