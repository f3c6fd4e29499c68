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

/** The markdown of one section; empty items are skipped. */
export function renderSection(section: string, items: ReportItem[], now = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  const ts = `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())} ` +
    `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
  const out = [`## ${section}`, `timestamp: ${ts}`, ""];
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
  const slug = section.toLowerCase().replaceAll(" ", "-");
  const path = join(layout.report(baseDir), `${slug}.md`);
  await writeFileAtomic(path, renderSection(section, items));
  return path;
}
