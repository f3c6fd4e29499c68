// `nanochat report [generate|reset]`: the run's report card (nanochat's report.py), with plots and --html.
import { type Command, InvalidArgumentError } from "commander";
import { join, resolve } from "node:path";
import { layout } from "../common/base_dir.ts";
import { writeFileAtomic } from "../common/fs.ts";
import { generateReport, PLOTS_DIR, writePlots } from "../report/generate.ts";
import { reportHtml } from "../report/html.ts";
import { resetReport } from "../report/reset.ts";
import { globalOptions } from "./context.ts";

const ACTIONS = ["generate", "reset"];

export function registerReportCommand(program: Command): void {
  program.command("report")
    .description(
      "the run's report card. generate (default): stitch the stages' sections under <base>/report into " +
        "report.md with SVG plots (report-plots/) and the summary table, then copy report.md and its plots " +
        "to the current directory as nanochat does (--no-copy to skip). reset: start a new report " +
        "(header with git, hardware, cost and code size; clears the previous run's sections and series)",
    )
    .argument("[action]", `${ACTIONS.join(" or ")}`, (value: string) => {
      if (!ACTIONS.includes(value)) {
        throw new InvalidArgumentError(`use "generate" or "reset", got "${value}"`);
      }
      return value;
    }, "generate")
    .option("--html", "also write report.html: one self-contained page with the plots inline")
    .option("--no-copy", "do not copy report.md (and report-plots/, report.html) to the current directory")
    .action(async (action: string, opts: { html?: boolean; copy: boolean }, cmd: Command) => {
      const { baseDir } = globalOptions(cmd);
      if (action === "reset") {
        const path = await resetReport(baseDir);
        console.log(`reset the report and wrote its header to ${path}`);
        return;
      }
      const report = await generateReport(baseDir);
      if (!report.hasHeader) {
        console.error("warning: no header.md: run `nanochat report reset` when a run starts");
      }
      if (report.missing.length > 0) console.error(`sections not logged yet: ${report.missing.join(", ")}`);
      const dir = layout.report(baseDir);
      const written = [report.path];
      let html: string | null = null;
      if (opts.html) {
        html = reportHtml(
          report.markdown,
          new Map(report.plots.map((p) => [`${PLOTS_DIR}/${p.file}`, p.svg])),
        );
        await writeFileAtomic(join(dir, "report.html"), html);
        written.push(join(dir, "report.html"));
      }
      console.log(
        `wrote ${written.join(" and ")} with ${report.plots.length} plot(s) in ${join(dir, PLOTS_DIR)}`,
      );
      if (opts.copy && resolve(Deno.cwd()) !== resolve(dir)) {
        await writeFileAtomic("report.md", report.markdown);
        await writePlots(PLOTS_DIR, report.plots);
        if (html !== null) await writeFileAtomic("report.html", html);
        console.log(
          `copied report.md${html !== null ? ", report.html" : ""} and ${PLOTS_DIR}/ to ${Deno.cwd()}`,
        );
      }
      const summary = report.markdown.slice(report.markdown.lastIndexOf("## Summary"));
      console.log(
        "\n" + summary.split("\n").filter((l) => l.startsWith("|") || l.startsWith("Total")).join("\n"),
      );
    });
}
