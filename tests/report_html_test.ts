// `nanochat report --html` in headless Chromium: the page loads nothing from elsewhere, every plot renders at
// a readable size with its labels, the summary table is there, and a phone-width view does not overflow.
// Screenshots go to $NANOCHAT_REPORT_SCREENSHOTS when set (to look at them), else to a temp dir.
import { assert, assertEquals } from "@std/assert";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { MetricsRecorder } from "../src/report/metrics.ts";
import { hasChromium, launchChromium } from "./chromium.ts";
import { runCliProcess, withTempDir } from "./helpers.ts";

const CSV = [
  "Task                               , Accuracy  , Centered  ",
  ...[
    ["hellaswag_zeroshot", 0.2812, 0.0416],
    ["jeopardy", 0.0412, 0.0412],
    ["bigbench_qa_wikidata", 0.3391, 0.3391],
    ["arc_easy", 0.4621, 0.2828],
    ["arc_challenge", 0.2431, -0.0092],
    ["copa", 0.5800, 0.1600],
    ["winograd", 0.5348, 0.0696],
    ["lambada_openai", 0.2290, 0.2290],
  ].map(([t, a, c]) => `${String(t).padEnd(35)}, ${Number(a).toFixed(6)}  , ${Number(c).toFixed(6)}  `),
  `${"CORE".padEnd(35)},           , 0.140262  `,
  "",
].join("\n");

/** A run's worth of recorded sections and series (a smooth decaying loss with deterministic noise). */
async function writeRun(base: string): Promise<void> {
  const dir = join(base, "report");
  await Deno.mkdir(join(base, "base_eval"), { recursive: true });
  await Deno.writeTextFile(join(base, "base_eval", "base_model_000300.csv"), CSV);
  const base_ = await MetricsRecorder.open(base, "base");
  for (let s = 0; s < 300; s++) {
    const loss = 2.6 + 8.4 * Math.exp(-s / 40) + 0.15 * Math.sin(s * 1.7);
    base_.record(s, { "loss/train": loss, "loss/train_smooth": 2.6 + 8.4 * Math.exp(-s / 40) });
    if (s % 50 === 0) base_.record(s, { "bpb/val": 1.0 + 2.4 * Math.exp(-s / 50) });
  }
  base_.close();
  const sft = await MetricsRecorder.open(base, "sft");
  for (let s = 0; s < 60; s++) {
    sft.record(s, { "loss/train": 1.4 - s * 0.006 });
    if (s % 20 === 0) sft.record(s, { "loss/val": 1.35 - s * 0.004, "accuracy/mmlu": 0.25 + s * 0.001 });
  }
  sft.close();
  const rl = await MetricsRecorder.open(base, "rl");
  for (let s = 0; s < 40; s++) {
    rl.record(s, { "reward/mean": 0.02 + s * 0.002 + 0.01 * Math.sin(s) });
    if (s % 10 === 0) rl.record(s, { "pass@k/pass@1": 0.03 + s * 0.001, "pass@k/pass@8": 0.1 + s * 0.003 });
  }
  rl.close();
  const section = (t: string, ts: string, lines: string[]) =>
    Deno.writeTextFile(
      join(dir, `${t.toLowerCase().replaceAll(" ", "-")}.md`),
      `## ${t}\ntimestamp: ${ts}\n\n${lines.join("\n")}\n\n`,
    );
  await section("Tokenizer evaluation", "2099-01-01 00:01:00", [
    "Comparison with GPT-2:",
    "",
    "| Text Type | Bytes | GPT-2 Tokens | Ours Tokens | Relative Diff % |",
    "|-----------|-------|--------------|-------------|-----------------|",
    "| news | 1819 | 404 | 375 | +7.2% |",
    "| code <script>alert(1)</script> | 1259 | 576 | 492 | +14.6% |",
  ]);
  await section("Base model training", "2099-01-01 01:00:00", [
    "- depth: 20",
    "- Minimum validation bpb: 1.0300",
  ]);
  await section("Base model evaluation", "2099-01-01 01:10:00", [
    "- Model: base_model (step 300)",
    "- CORE metric: 0.1403",
  ]);
  await section("Chat SFT", "2099-01-01 02:00:00", ["- Training rows: 21,400"]);
  await section("Chat evaluation sft", "2099-01-01 02:30:00", [
    "- ARC-Easy: 0.3876",
    "- ARC-Challenge: 0.2807",
    "- MMLU: 0.3151",
    "- GSM8K: 0.0455",
    "- HumanEval: 0.0854",
    "- ChatCORE metric: 0.0884",
  ]);
}

Deno.test({
  name: "report --html in Chromium: self-contained, every plot drawn and readable, no overflow on a phone",
  ignore: !hasChromium,
}, async () => {
  let browser: Browser | undefined;
  await withTempDir(async (tmp) => {
    const base = join(tmp, "base");
    await writeRun(base);
    const res = await runCliProcess(["--base-dir", base, "report", "--html", "--no-copy"]);
    assertEquals(res.code, 0, res.err);
    const shots = Deno.env.get("NANOCHAT_REPORT_SCREENSHOTS") ?? tmp;
    try {
      browser = await launchChromium();
      const page = await (await browser.newContext({ viewport: { width: 1000, height: 900 } })).newPage();
      const foreign: string[] = [];
      const errors: string[] = [];
      page.on("request", (r) => {
        if (!r.url().startsWith("file://")) foreign.push(r.url());
      });
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`file://${join(base, "report", "report.html")}`);
      const figures = page.locator("figure");
      const titles = await page.locator("figure svg > title").allTextContents();
      assertEquals(titles, [
        "Base training: loss",
        "Base training: validation bits per byte",
        "CORE per task (base_model_000300.csv, CORE 0.1403)",
        "SFT: loss",
        "SFT: accuracy",
        "RL: reward",
        "RL: pass@k",
        "Summary: metrics by stage",
      ]);
      for (let i = 0; i < titles.length; i++) {
        const box = (await figures.nth(i).locator("svg").boundingBox())!;
        assert(box.width >= 600 && box.height >= 150, `${titles[i]}: drawn at ${box.width}x${box.height}`);
        // tick labels are laid out inside the picture, not clipped away
        const ticks = figures.nth(i).locator("text.x-tick");
        assert((await ticks.count()) >= 3, `${titles[i]}: x ticks`);
        await figures.nth(i).screenshot({ path: `${shots}/report-figure-${i}.png` });
      }
      assertEquals(await page.locator("figure").nth(2).locator("rect.bar").count(), 16);
      assertEquals(await page.locator("table").last().locator("tbody tr").count(), 7, "the summary table");
      assertEquals(await page.locator("script").count(), 0, "no script, even from a section's text");
      await page.screenshot({ path: `${shots}/report-desktop.png`, fullPage: true });

      await page.setViewportSize({ width: 390, height: 844 });
      const scrollWidth = await page.evaluate("document.scrollingElement.scrollWidth") as number;
      assert(scrollWidth <= 390, `no horizontal overflow on a phone (scrollWidth ${scrollWidth})`);
      await page.screenshot({ path: `${shots}/report-phone.png`, fullPage: true });
      assertEquals(foreign, [], "the page loads nothing from elsewhere");
      assertEquals(errors, []);
    } finally {
      await browser?.close();
    }
  });
});
