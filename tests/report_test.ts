// The report card: the metrics recorder (append, crash repair, resume), the SVG renderer (valid XML whose
// marks sit where the axis labels say the recorded values are), report.md's structure and summary from
// recorded sections (whole-key metric parsing, wall clock, cost), and a real tiny `train base` + `eval base`
// run through `report reset` / `report --html` with its plots.
import { assert, assertAlmostEquals, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { DOMParser } from "@xmldom/xmldom";
import { join } from "node:path";
import { generateReport } from "../src/report/generate.ts";
import { reportHtml } from "../src/report/html.ts";
import { metricsPath, MetricsRecorder, parseMetrics, readMetrics } from "../src/report/metrics.ts";
import { corePlot, parseCoreCsv } from "../src/report/plots.ts";
import { barChart, decimate, lineChart } from "../src/report/svg.ts";
import { makeTinyTokenizer, runCliProcess, sharedPretrainDir, withTempDir } from "./helpers.ts";

const SHARED = sharedPretrainDir();

// deno-lint-ignore no-explicit-any
type Doc = any;

/** Parses SVG strictly (any error throws), as a browser's XML parser would. */
export function parseSvg(svg: string): Doc {
  const doc = new DOMParser({
    onError: (level: string, msg: string) => {
      if (level !== "warning") throw new Error(`invalid SVG: ${msg}`);
    },
  }).parseFromString(svg, "image/svg+xml");
  assertEquals(doc.documentElement?.tagName, "svg");
  return doc;
}

function byClass(doc: Doc, tag: string, cls: string): Doc[] {
  return Array.from(doc.getElementsByTagName(tag) as Doc[]).filter((e) => e.getAttribute("class") === cls);
}

/** The linear map from pixels to values, rebuilt from two tick labels and where they are drawn. */
function axisFromTicks(doc: Doc, cls: "x-tick" | "y-tick"): (px: number) => number {
  const ticks = byClass(doc, "text", cls).map((t) => ({
    value: Number(String(t.textContent).replaceAll(",", "")),
    // labels sit at the tick's x, or 4 px below the tick's y (baseline centering)
    px: Number(t.getAttribute(cls === "x-tick" ? "x" : "y")) - (cls === "y-tick" ? 4 : 0),
  }));
  assert(ticks.length >= 2, `${cls}: at least two ticks`);
  const [a, b] = [ticks[0], ticks[ticks.length - 1]];
  return (px) => a.value + ((px - a.px) / (b.px - a.px)) * (b.value - a.value);
}

/** The (x, y) values a polyline draws, read back through the chart's own axis labels. */
function polylineValues(doc: Doc, series: string): { x: number; y: number }[] {
  const line = byClass(doc, "polyline", "series").find((p) => p.getAttribute("data-series") === series);
  assert(line, `a polyline for ${series}`);
  const toX = axisFromTicks(doc, "x-tick"), toY = axisFromTicks(doc, "y-tick");
  return String(line.getAttribute("points")).split(" ").map((pair) => {
    const [x, y] = pair.split(",").map(Number);
    return { x: toX(x), y: toY(y) };
  });
}

Deno.test("line chart: valid SVG whose polyline and markers show the recorded values", () => {
  const train = [3.9, 3.1, 2.71, 2.5, 2.42, 2.3].map((y, i) => ({ x: i * 50, y }));
  const val = [{ x: 0, y: 4.2 }, { x: 250, y: 2.6 }];
  const svg = lineChart({
    title: 'Loss <&> "quoted"',
    xLabel: "step",
    yLabel: "loss",
    series: [{ name: "train & co", points: train }, { name: "val", points: val }],
  });
  const doc = parseSvg(svg);
  assertEquals(doc.getElementsByTagName("title")[0].textContent, 'Loss <&> "quoted"');
  const got = polylineValues(doc, "train & co");
  assertEquals(got.length, train.length);
  got.forEach((p, i) => {
    assertAlmostEquals(p.x, train[i].x, 0.5);
    assertAlmostEquals(p.y, train[i].y, 0.01);
  });
  assertEquals(polylineValues(doc, "val").map((p) => Math.round(p.y * 100) / 100), [4.2, 2.6]);
  assertEquals(byClass(doc, "circle", "point").length, train.length + val.length, "few points get markers");
  const legend = byClass(doc, "text", "legend").map((t) => t.textContent);
  assertEquals(legend, ["train & co", "val"]);
  // the y ticks cover the data with nice steps
  const yTicks = byClass(doc, "text", "y-tick").map((t) => Number(t.textContent));
  assert(yTicks[0] <= 2.3 && yTicks.at(-1)! >= 4.2, `y ticks ${yTicks}`);
});

Deno.test("line chart: a long series is decimated per pixel column but keeps its extremes", () => {
  const points = Array.from(
    { length: 20_000 },
    (_, i) => ({ x: i, y: Math.sin(i / 300) + (i === 12_345 ? 5 : 0) }),
  );
  const kept = decimate(points, 0, 624 / 20_000);
  assert(kept.length < 4 * 625 && kept.length > 624, `kept ${kept.length}`);
  assert(kept.some((p) => p.x === 12_345), "the spike survives");
  const svg = lineChart({ title: "long", xLabel: "step", yLabel: "y", series: [{ name: "s", points }] });
  assert(svg.length < 100_000, `a 20k-step curve stays small (${svg.length} chars)`);
  const ys = polylineValues(parseSvg(svg), "s").map((p) => p.y);
  assertAlmostEquals(Math.max(...ys), Math.max(...points.map((p) => p.y)), 0.02);
});

Deno.test("bar chart: bars span zero to the value on the axis, with the value printed; null draws nothing", () => {
  const svg = barChart({
    title: "CORE per task",
    categories: ["hellaswag", "arc_easy", "winograd"],
    series: [{ name: "centered", values: [0.12, null, -0.05] }, {
      name: "accuracy",
      values: [0.3, 0.6, 0.47],
    }],
    valueLabel: "score",
  });
  const doc = parseSvg(svg);
  const toV = axisFromTicks(doc, "x-tick");
  const bars = byClass(doc, "rect", "bar");
  assertEquals(bars.length, 5);
  const bar = (cat: string, s: string) =>
    bars.find((b) => b.getAttribute("data-category") === cat && b.getAttribute("data-series") === s);
  for (const [cat, s, v] of [["hellaswag", "centered", 0.12], ["winograd", "centered", -0.05]] as const) {
    const b = bar(cat, s);
    const x = Number(b.getAttribute("x")), w = Number(b.getAttribute("width"));
    const [lo, hi] = [toV(x), toV(x + w)];
    assertAlmostEquals(v < 0 ? lo : hi, v, 0.001);
    assertAlmostEquals(v < 0 ? hi : lo, 0, 0.001);
  }
  assertEquals(bar("arc_easy", "centered"), undefined);
  const labels = byClass(doc, "text", "value").map((t) => t.textContent);
  assertEquals(labels, ["0.1200", "0.3000", "0.6000", "-0.0500", "0.4700"]);
  assertEquals(byClass(doc, "text", "category").map((t) => t.textContent), [
    "hellaswag",
    "arc_easy",
    "winograd",
  ]);
});

const CORE_CSV = [
  "Task                               , Accuracy  , Centered  ",
  "hellaswag_zeroshot                 , 0.262000  , 0.016000  ",
  "arc_easy                           , 0.410000  , 0.213333  ",
  "winograd                           , 0.480000  , -0.040000 ",
  "CORE                               ,           , 0.063111  ",
  "",
].join("\n");

Deno.test("nanochat's base_eval CSV parses into tasks and CORE, and plots one row per task", () => {
  const parsed = parseCoreCsv(CORE_CSV);
  assertEquals(parsed.core, 0.063111);
  assertEquals(parsed.tasks.map((t) => [t.task, t.accuracy, t.centered]), [
    ["hellaswag_zeroshot", 0.262, 0.016],
    ["arc_easy", 0.41, 0.213333],
    ["winograd", 0.48, -0.04],
  ]);
  const plot = corePlot(CORE_CSV, "base_model_000040.csv")!;
  assertStringIncludes(plot.title, "CORE 0.0631");
  assertEquals(byClass(parseSvg(plot.svg), "rect", "bar").length, 6);
  assertEquals(corePlot("Task, Accuracy, Centered\n", "x.csv"), null);
});

Deno.test("metrics recorder: appends lines, cuts a crash's partial line, resumes at a checkpoint marker", async () => {
  await withTempDir(async (base) => {
    const rec = await MetricsRecorder.open(base, "sft");
    rec.record(0, { "loss/train": 2.5, "loss/val": Number.NaN });
    rec.record(1, { "loss/train": 2.25 });
    rec.markCheckpoint(2);
    rec.record(2, { "loss/train": 2.0, "accuracy/mmlu": 0.25 });
    rec.close();
    const path = metricsPath(base, "sft");
    // a crash in the middle of a write leaves a partial last line
    await Deno.writeTextFile(path, '{"step":3,"loss/tr', { append: true });
    let series = await readMetrics(base, "sft");
    assertEquals(series.get("loss/train"), [{ step: 0, value: 2.5 }, { step: 1, value: 2.25 }, {
      step: 2,
      value: 2.0,
    }]);
    assertEquals(series.has("loss/val"), false, "non-finite values are left out");

    // resuming from the step-2 checkpoint drops what came after its marker (and the partial line)
    const resumed = await MetricsRecorder.open(base, "sft", { resumeFrom: 2 });
    resumed.record(2, { "loss/train": 1.9 });
    resumed.close();
    const text = await Deno.readTextFile(path);
    assert(text.endsWith("\n") && !text.includes('loss/tr"'), text);
    series = parseMetrics(text);
    assertEquals(series.get("loss/train")!.map((p) => p.value), [2.5, 2.25, 1.9]);
    assertEquals(series.has("accuracy/mmlu"), false);

    // a resume without a marker for that step keeps everything; duplicates: the last value wins
    const again = await MetricsRecorder.open(base, "sft", { resumeFrom: 7 });
    again.record(1, { "loss/train": 2.2 });
    again.close();
    assertEquals((await readMetrics(base, "sft")).get("loss/train")!.map((p) => p.value), [2.5, 2.2, 1.9]);
    // a fresh run starts empty
    (await MetricsRecorder.open(base, "sft")).close();
    assertEquals((await readMetrics(base, "sft")).size, 0);
    assertEquals((await readMetrics(base, "rl")).size, 0, "a stage never recorded reads as empty");
  });
});

const HEADER = [
  "# nanochat training report",
  "",
  "## Environment",
  "",
  "### Hardware",
  "- GPUs: 8x NVIDIA H100 80GB HBM3",
  "- Hourly Rate: $24.00/hour",
  "",
  "### Bloat",
  "- Characters: 1,234",
  "- Lines: 56",
  "",
  "Run started: 2025-10-13 10:00:00",
  "",
  "---",
  "",
  "",
].join("\n");

function section(title: string, ts: string, lines: string[]): string {
  return [`## ${title}`, `timestamp: ${ts}`, "", ...lines, "", ""].join("\n");
}

Deno.test("report.md: sections in nanochat's order, whole-key metrics, summary table, wall clock and cost", async () => {
  await withTempDir(async (base) => {
    const dir = join(base, "report");
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(join(dir, "header.md"), HEADER);
    const files: Record<string, string> = {
      "chat-evaluation-sft.md": section("Chat evaluation sft", "2025-10-13 13:40:00", [
        "- ARC-Easy: 0.3876",
        "- ARC-Easy (few-shot, not the metric): 0.9999",
        "- ARC-Challenge: 0.2807",
        "- MMLU: 0.3151",
        "- MMLU-extra: 0.7777",
        "- GSM8K: 0.0455",
        "- HumanEval: 0.0854",
        "- SpellingBee: 0.9000",
        "- ChatCORE metric: 0.0884",
      ]),
      "base-model-evaluation.md": section("Base model evaluation", "2025-10-13 12:00:00", [
        "- Model: base_model (step 21400)",
        "- CORE metric: 0.2219",
        "- hellaswag_zeroshot: 0.2600",
      ]),
      "chat-evaluation-mid.md": section("Chat evaluation mid", "2025-10-13 13:00:00", [
        "- ChatCORE metric: 0.0730",
        "- GSM8K: 0.0250",
        "- CORE-ish: 0.5",
      ]),
      "chat-evaluation-rl.md": section("Chat evaluation rl", "2025-10-13 16:00:00", ["- GSM8K: 0.0758"]),
      "tokenizer-training.md": section("Tokenizer training", "2025-10-13 10:05:00", ["- vocab_size: 65536"]),
    };
    for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(join(dir, name), text);
    const rec = await MetricsRecorder.open(base, "base");
    rec.record(0, { "loss/train": 11.0, "bpb/val": 3.2 });
    rec.record(1, { "loss/train": 9.5 });
    rec.close();

    const report = await generateReport(base);
    const md = await Deno.readTextFile(join(dir, "report.md"));
    assertEquals(md, report.markdown);
    const headings = md.split("\n").filter((l) => l.startsWith("## "));
    assertEquals(headings, [
      "## Environment",
      "## Tokenizer training",
      "## Base model training",
      "## Base model evaluation",
      "## Chat evaluation mid",
      "## Chat evaluation sft",
      "## Chat evaluation rl",
      "## Summary",
    ]);
    assertStringIncludes(md, "## Base model training\n(no section logged yet: plots of what was recorded)\n");
    assertStringIncludes(md, "![Base training: loss](report-plots/base-loss.svg)");
    const table = md.split("\n").filter((l) => l.startsWith("|"));
    assertEquals(table, [
      "| Metric          | BASE     | MID      | SFT      | RL       |",
      "|-----------------|----------|----------|----------|----------|",
      "| CORE            | 0.2219   | -        | -        | -        |",
      "| ARC-Challenge   | -        | -        | 0.2807   | -        |",
      "| ARC-Easy        | -        | -        | 0.3876   | -        |",
      "| GSM8K           | -        | 0.0250   | 0.0455   | 0.0758   |",
      "| HumanEval       | -        | -        | 0.0854   | -        |",
      "| MMLU            | -        | -        | 0.3151   | -        |",
      "| ChatCORE        | -        | 0.0730   | 0.0884   | -        |",
    ]);
    // the last non-RL section (13:40) minus the start (10:00); the cost is 8 GPUs at $24/hour for that long
    assertStringIncludes(md, "Total wall clock time: 3h40m\n");
    assertStringIncludes(md, "Estimated cost: $88.00 (8 GPUs x 3h40m = 29.33 GPU-hours at $24.00/hour)");
    assertStringIncludes(md, "## Summary\n\n- Characters: 1,234\n- Lines: 56\n\n");
    assertEquals(report.missing, [
      "tokenizer-evaluation",
      "base-model-training",
      "base-model-loss",
      "midtraining",
      "chat-sft",
      "chat-rl",
    ]);
    assertEquals(report.plots.map((p) => p.file), ["base-loss.svg", "base-bpb.svg", "summary.svg"]);
    for (const p of report.plots) {
      assertEquals(await Deno.readTextFile(join(dir, "report-plots", p.file)), p.svg);
      parseSvg(p.svg);
    }
    // the summary chart: one bar per stage that has the metric
    const bars = byClass(parseSvg(report.plots[2].svg), "rect", "bar");
    assertEquals(bars.filter((b) => b.getAttribute("data-category") === "GSM8K").length, 3);

    const html = reportHtml(md, new Map(report.plots.map((p) => [`report-plots/${p.file}`, p.svg])));
    assertEquals((html.match(/<svg /g) ?? []).length, 3);
    assertStringIncludes(html, "<td>0.2219</td>");
    assert(!html.includes("report-plots/"), "every plot is inline");
  });
});

Deno.test("report without a header: unknown wall clock, a warning line instead of the code size", async () => {
  await withTempDir(async (base) => {
    const report = await generateReport(base);
    assertEquals(report.hasHeader, false);
    assertStringIncludes(report.markdown, "## Summary\n\n[bloat data missing]");
    assertStringIncludes(report.markdown, "Total wall clock time: unknown\n");
    assertEquals(report.plots, []);
  });
});

/** Trains a d2 model for `steps` steps with val bpb every 5 steps; extra flags are appended. */
async function trainTiny(base: string, steps: number, extra: string[] = []) {
  const res = await runCliProcess([
    "--base-dir",
    base,
    "train",
    "base",
    ...["--depth", "2", "--max-seq-len", "64", "--device-batch-size", "4", "--total-batch-size", "256"],
    ...["--sample-every", "-1", "--eval-every", "5", "--eval-tokens", "512", "--threads", "1"],
    ...["--num-iterations", String(steps), "--data-dir", SHARED!, ...extra],
  ]);
  assertEquals(res.code, 0, res.err + res.out);
  return res;
}

Deno.test({
  name: "train base records its series; a resumed run's file equals an uninterrupted run's",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (tmp) => {
      const [a, b] = [join(tmp, "a"), join(tmp, "b")];
      for (const base of [a, b]) await makeTinyTokenizer(base, SHARED!);
      await trainTiny(a, 12);
      await trainTiny(b, 12, ["--stop-after", "7", "--save-every", "5"]);
      await trainTiny(b, 12, ["--resume"]);
      const [full, resumed] = [await readMetrics(a, "base"), await readMetrics(b, "base")];
      assertEquals([...full.keys()].sort(), ["bpb/val", "loss/train", "loss/train_smooth"]);
      assertEquals(full.get("loss/train")!.map((p) => p.step), [...Array(12).keys()]);
      assertEquals(full.get("bpb/val")!.map((p) => p.step), [0, 5, 10, 12]);
      assertEquals(resumed, full);
      const lines = (await Deno.readTextFile(metricsPath(b, "base"))).trim().split("\n");
      assertEquals(lines.filter((l) => l.includes('"checkpoint"')).length, 3, "markers of steps 5, 7 and 12");
    }),
});

Deno.test({
  name: "report from a real tiny train base + eval base: reset, generate --html, copies, plotted values",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (tmp) => {
      const base = join(tmp, "base");
      const cwd = join(tmp, "cwd");
      await Deno.mkdir(cwd, { recursive: true });
      const reset = await runCliProcess(["--base-dir", base, "report", "reset"]);
      assertEquals(reset.code, 0, reset.err);
      const header = await Deno.readTextFile(join(base, "report", "header.md"));
      assertMatch(header, /^# nanochat training report\n\nGenerated: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n/);
      for (
        const line of ["- Commit: ", "- CPUs: ", "- Memory: ", "- GPUs: ", "- Deno: ", "- Compute backend: "]
      ) {
        assertStringIncludes(header, line);
      }
      assertMatch(header, /### Bloat\n- Characters: [\d,]+\n- Lines: [\d,]+\n- Files: [\d,]+\n/);
      assertMatch(header, /- Dependencies \(deno\.lock lines\): \d+/);
      assertMatch(header, /Run started: [\d-]+ [\d:]+\n\n---\n/);

      await makeTinyTokenizer(base, SHARED!);
      await trainTiny(base, 10);
      const ev = await runCliProcess([
        "--base-dir",
        base,
        "eval",
        "base",
        ...["--device-batch-size", "4", "--split-tokens", "512", "--data-dir", SHARED!],
      ]);
      assertEquals(ev.code, 0, ev.err);
      // nanochat's base_eval output (the CORE evaluation lands separately): its CSV and section lines
      await Deno.mkdir(join(base, "base_eval"));
      await Deno.writeTextFile(join(base, "base_eval", "base_model_000010.csv"), CORE_CSV);
      await Deno.writeTextFile(
        join(base, "report", "base-model-evaluation.md"),
        section("Base model evaluation", "2099-01-01 00:00:00", [
          "- Model: base_model (step 10)",
          "- CORE metric: 0.0631",
        ]),
      );

      const main = new URL("../src/cli/main.ts", import.meta.url).pathname;
      const gen = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", main, "--base-dir", base, "report", "--html"],
        cwd,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const out = new TextDecoder().decode(gen.stdout), err = new TextDecoder().decode(gen.stderr);
      assertEquals(gen.code, 0, err);
      assertStringIncludes(out, "| CORE            | 0.0631   |");
      assertStringIncludes(
        err,
        "sections not logged yet: tokenizer-training, tokenizer-evaluation, midtraining",
      );
      const md = await Deno.readTextFile(join(base, "report", "report.md"));
      assertEquals(await Deno.readTextFile(join(cwd, "report.md")), md, "copied to the working directory");
      for (const f of ["base-loss.svg", "base-bpb.svg", "base-core.svg", "summary.svg"]) {
        assertStringIncludes(md, `(report-plots/${f})`);
        assertEquals(
          await Deno.readTextFile(join(cwd, "report-plots", f)),
          await Deno.readTextFile(join(base, "report", "report-plots", f)),
        );
      }
      const html = await Deno.readTextFile(join(cwd, "report.html"));
      assertEquals((html.match(/<svg /g) ?? []).length, 4);

      // real numbers: the plotted losses and bpb are the recorded ones, and the final bpb is eval's
      const series = await readMetrics(base, "base");
      const loss = await Deno.readTextFile(join(base, "report", "report-plots", "base-loss.svg"));
      const drawn = polylineValues(parseSvg(loss), "train loss");
      const recorded = series.get("loss/train")!;
      assertEquals(drawn.length, recorded.length);
      drawn.forEach((p, i) => assertAlmostEquals(p.y, recorded[i].value, 0.02));
      const finalBpb = series.get("bpb/val")!.at(-1)!.value;
      assertStringIncludes(md, `- val bpb: ${finalBpb.toFixed(4)}`);
      assertStringIncludes(md, `- Final validation bpb: ${finalBpb.toFixed(4)}`);
      const bpbSvg = parseSvg(await Deno.readTextFile(join(base, "report", "report-plots", "base-bpb.svg")));
      assertAlmostEquals(polylineValues(bpbSvg, "validation bpb").at(-1)!.y, finalBpb, 0.01);

      // --no-copy leaves the working directory alone; reset clears the run
      await Deno.remove(join(cwd, "report.md"));
      const noCopy = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", main, "--base-dir", base, "report", "generate", "--no-copy"],
        cwd,
        stdout: "null",
        stderr: "null",
      }).output();
      assertEquals(noCopy.code, 0);
      assertEquals(await Deno.stat(join(cwd, "report.md")).catch(() => null), null);
      assertEquals((await runCliProcess(["--base-dir", base, "report", "reset"])).code, 0);
      const left = [];
      for await (const e of Deno.readDir(join(base, "report"))) left.push(e.name);
      assertEquals(left, ["header.md"]);
      const bad = await runCliProcess(["--base-dir", base, "report", "regenerate"]);
      assertEquals(bad.code, 1);
      assertStringIncludes(bad.err, 'use "generate" or "reset", got "regenerate"');
    }),
});
