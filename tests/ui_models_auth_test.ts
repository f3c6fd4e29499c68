// The web UI in headless Chromium against a server with two models and an API key: the 401 prompt (the
// key field opens, the question is given back), the stage picker fed by /v1/models (default selected, the
// pick sent as `model` and remembered), and the Stop button (the partial reply stays, marked stopped,
// and the server's worker is freed).
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import type { Browser } from "playwright-core";
import type { ChatEngine, FinishReason, GeneratedPiece, GenerateOptions } from "../src/engine/types.ts";
import { createApp } from "../src/server/app.ts";
import { ModelCatalog } from "../src/server/models.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { UI_HTML } from "../src/ui/page.ts";
import { hasChromium, launchChromium } from "./chromium.ts";
import { withTempDir } from "./helpers.ts";

/** Streams "I am <name>." then, when `long`, many more words slowly (so Stop has something to stop). */
class StageEngine implements ChatEngine {
  long = false;
  aborted = 0;
  constructor(readonly tokenizer: Tokenizer, readonly name: string) {}
  async *stream(_prompt: number[], options: GenerateOptions): AsyncGenerator<GeneratedPiece, FinishReason> {
    const words = [
      `I am ${this.name}.`,
      ...(this.long ? Array.from({ length: 400 }, (_, i) => ` word${i}`) : []),
    ];
    for (const [i, w] of words.entries()) {
      await new Promise((r) => setTimeout(r, this.long ? 25 : 2));
      if (options.signal?.aborted) {
        this.aborted++;
        return "aborted";
      }
      yield { token: i, text: w, mask: 1 };
    }
    return "stop";
  }
}

Deno.test({
  name: "web UI: API-key prompt on 401, stage picker from /v1/models, Stop keeps the partial reply",
  ignore: !hasChromium,
}, async () => {
  const tokenizer = await Tokenizer.train(["I am sft. I am base. word ".repeat(40), "who are you? hello"], {
    vocabSize: 280,
  });
  const engines = { sft: new StageEngine(tokenizer, "sft"), base: new StageEngine(tokenizer, "base") };
  const catalog = new ModelCatalog([
    {
      id: "nanochat-sft-d2-10",
      stage: "sft",
      tag: "d2",
      step: 10,
      load: () => Promise.resolve({ engines: [engines.sft], close() {} }),
    },
    {
      id: "nanochat-base-d2-20",
      stage: "base",
      tag: "d2",
      step: 20,
      load: () => Promise.resolve({ engines: [engines.base], close() {} }),
    },
  ], { defaultId: "nanochat-sft-d2-10" });
  await catalog.preload("nanochat-sft-d2-10");
  const app = createApp({ models: catalog, apiKey: "sekret", logger: () => {}, uiHtml: UI_HTML });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}/`;
  let browser: Browser | undefined;
  const keepDir = Deno.env.get("NANOCHAT_UI_SCREENSHOTS");
  try {
    await withTempDir(async (tmp) => {
      const shots = keepDir ?? tmp;
      browser = await launchChromium();
      const page = await (await browser.newContext({ viewport: { width: 1000, height: 760 } })).newPage();
      const pageErrors: string[] = [];
      const sent: { model?: string; messages: unknown[] }[] = [];
      page.on("pageerror", (e) => pageErrors.push(String(e)));
      page.on("request", (r) => {
        if (r.method() === "POST" && r.url().endsWith("/chat/completions")) sent.push(r.postDataJSON());
      });
      await page.goto(url);

      // the model list needs the key: the page opens the settings on the key field and says why
      const banner = page.getByTestId("error-banner");
      await banner.waitFor();
      assertStringIncludes(await banner.innerText(), "needs an API key");
      assert(await page.getByTestId("api-key").isVisible(), "the API key field is shown");
      assert(await page.getByTestId("model-picker").isHidden(), "no picker before the models are known");

      // sending without the key: refused, the question goes back to the input
      const input = page.getByTestId("input");
      await input.fill("who are you?");
      await input.press("Enter");
      await page.waitForFunction('document.body.dataset.busy === "0"');
      assertStringIncludes(await banner.innerText(), "needs an API key");
      assertEquals(await input.inputValue(), "who are you?");
      assertEquals(await page.locator(".msg").count(), 0);
      await page.screenshot({ path: `${shots}/auth.png` });

      // entering the key loads the models into the picker, the default selected
      await page.getByTestId("api-key").fill("sekret");
      await page.getByTestId("api-key").dispatchEvent("change");
      const picker = page.getByTestId("model-picker");
      await picker.waitFor();
      assertEquals(await picker.locator("option").allInnerTexts(), [
        "SFT \u00b7 d2 step 10",
        "BASE \u00b7 d2 step 20",
      ]);
      assertEquals(await picker.inputValue(), "nanochat-sft-d2-10");
      assert(await banner.isHidden(), "the key banner goes once the key works");

      await input.press("Enter");
      await page.getByTestId("regenerate").waitFor();
      assertEquals(await page.getByTestId("message-content").innerText(), "I am sft.");
      assertEquals(sent.at(-1)!.model, "nanochat-sft-d2-10");

      // pick the base model: the next request names it and the base model answers; the pick survives a reload
      await picker.selectOption("nanochat-base-d2-20");
      await input.fill("and now?");
      await input.press("Enter");
      await page.getByTestId("message-assistant").nth(1).getByTestId("regenerate").waitFor();
      assertEquals(await page.getByTestId("message-content").nth(1).innerText(), "I am base.");
      assertEquals(sent.at(-1)!.model, "nanochat-base-d2-20");
      await page.screenshot({ path: `${shots}/picker.png` });
      await page.reload();
      await page.getByTestId("model-picker").waitFor();
      assertEquals(await page.getByTestId("model-picker").inputValue(), "nanochat-base-d2-20");

      // Stop during a long reply: Send comes back, the partial text stays with a note, the server frees its worker
      engines.base.long = true;
      await input.fill("tell me everything");
      await input.press("Enter");
      const reply = page.getByTestId("message-content").last();
      await page.waitForFunction(
        '(document.querySelector(".msg.assistant:last-child .content")?.textContent ?? "").includes("word3")',
      );
      assert(await page.getByTestId("stop").isVisible() && await page.getByTestId("send").isHidden());
      await page.getByTestId("stop").click();
      await page.getByTestId("message-note").waitFor();
      assertEquals(await page.getByTestId("message-note").innerText(), "(stopped)");
      const partial = await reply.innerText();
      assert(partial.startsWith("I am base. word0 word1 word2 word3"), partial);
      assert(!partial.includes("word399"), "the reply was cut short");
      assert(await page.getByTestId("send").isVisible() && await page.getByTestId("stop").isHidden());
      for (let i = 0; i < 100 && catalog.stats()["nanochat-base-d2-20"].busy > 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assertEquals(catalog.stats()["nanochat-base-d2-20"].busy, 0, "the stopped request freed its worker");
      assertEquals(engines.base.aborted, 1, "the engine saw the abort");
      await page.screenshot({ path: `${shots}/stopped.png` });
      assertEquals(pageErrors, []);
    });
  } finally {
    await browser?.close();
    await server.shutdown();
    catalog.close();
    tokenizer.free();
  }
});
