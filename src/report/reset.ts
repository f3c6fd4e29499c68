// `nanochat report reset`: starts a new report card (as nanochat's Report.reset): removes the previous run's
// sections, recorded series, plots and reports, and writes a fresh header with the "Run started" stamp.
import { join } from "node:path";
import { layout } from "../common/base_dir.ts";
import { fsErrorToUserError, writeFileAtomic } from "../common/fs.ts";
import { PLOTS_DIR, SECTIONS } from "./generate.ts";
import { generateHeader } from "./header.ts";
import { METRIC_STAGES, metricsPath } from "./metrics.ts";

async function removeIfPresent(path: string, recursive = false): Promise<void> {
  try {
    await Deno.remove(path, { recursive });
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw fsErrorToUserError(err, path);
  }
}

/** Clears <base>/report and writes header.md; returns the header's path. */
export async function resetReport(baseDir: string, now = new Date()): Promise<string> {
  const dir = layout.report(baseDir);
  for (const { slug } of SECTIONS) await removeIfPresent(join(dir, `${slug}.md`));
  for (const stage of METRIC_STAGES) await removeIfPresent(metricsPath(baseDir, stage));
  for (const file of ["report.md", "report.html"]) await removeIfPresent(join(dir, file));
  await removeIfPresent(join(dir, PLOTS_DIR), true);
  const path = join(dir, "header.md");
  await writeFileAtomic(path, await generateHeader(now));
  return path;
}
