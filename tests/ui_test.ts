// The web chat UI (src/ui/page.ts) in a real headless Chromium (Debian's /usr/bin/chromium through
// playwright-core) against the real app with a fake engine: streaming and markdown rendering, HTML
// sanitizing, editing, regenerating, new conversations, settings, the busy (503) and server-down banners,
// and a phone-sized layout without horizontal overflow.
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import type { Browser } from "playwright-core";
import { hasChromium, launchChromium } from "./chromium.ts";
import type { ChatEngine, FinishReason, GeneratedPiece, GenerateOptions } from "../src/engine/types.ts";
import { createApp } from "../src/server/app.ts";
import { WorkerPool } from "../src/server/pool.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { UI_HTML } from "../src/ui/page.ts";
import { withTempDir } from "./helpers.ts";

const FENCE = "```";
const ANSWER = [
  "Here is **bold**, *italic* and `inline code`.",
  "",
  `${FENCE}python`,
  "def add(a, b):",
  "    return a + b  # the sum",
  FENCE,
  "",
  "Unsafe: <script>alert(1)</script> and <img src=x onerror=alert(2)>",
  "",
  "- one",
  "- two",
  "",
  "[bad link](javascript:alert(3)) and [good link](https://example.com/)",
].join("\n");

/** Streams ANSWER (first request) or "Answer number N." in small pieces. */
class FakeEngine implements ChatEngine {
  calls = 0;
  constructor(readonly tokenizer: Tokenizer) {}
  async *stream(_prompt: number[], options: GenerateOptions): AsyncGenerator<GeneratedPiece, FinishReason> {
    this.calls++;
    const text = this.calls === 1 ? ANSWER : `Answer number ${this.calls}.`;
    for (let i = 0; i < text.length; i += 7) {
      await new Promise((r) => setTimeout(r, 3));
      if (options.signal?.aborted) return "aborted";
      yield { token: i, text: text.slice(i, i + 7), mask: 1 };
    }
    return "stop";
  }
}

interface SentRequest {
  messages: { role: string; content: string }[];
  temperature?: number;
  top_k?: number;
  max_tokens?: number;
}

Deno.test({
  name: "web UI in headless Chromium: chat, markdown, sanitizing, edit, regenerate, errors, phone layout",
  ignore: !hasChromium,
}, async () => {
  const tokenizer = await Tokenizer.train([ANSWER.repeat(5), "Hello edited question number answer"], {
    vocabSize: 300,
  });
  const engine = new FakeEngine(tokenizer);
  const app = createApp({
    modelName: "nanochat-test",
    logger: () => {},
    workers: new WorkerPool([engine], 4),
    uiHtml: UI_HTML,
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}/`;
  let serverUp = true;
  let browser: Browser | undefined;
  const keepDir = Deno.env.get("NANOCHAT_UI_SCREENSHOTS");
  try {
    await withTempDir(async (tmp) => {
      const shots = keepDir ?? tmp;
      browser = await launchChromium();
      const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
      const page = await context.newPage();
      const dialogs: string[] = [];
      const pageErrors: string[] = [];
      const foreign: string[] = [];
      const sent: SentRequest[] = [];
      page.on("dialog", (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      page.on("pageerror", (e) => pageErrors.push(String(e)));
      page.on("request", (r) => {
        if (!r.url().startsWith(url) && !r.url().startsWith("data:")) foreign.push(r.url());
        if (r.method() === "POST" && r.url().endsWith("/chat/completions")) sent.push(r.postDataJSON());
      });

      await page.goto(url);
      await page.getByTestId("empty").waitFor();
      assert(await page.getByTestId("error-banner").isHidden(), "no banner while the server is up");

      // send with Enter, watch the answer stream and render
      const input = page.getByTestId("input");
      await input.fill("Hello");
      await input.press("Enter");
      await page.getByTestId("regenerate").waitFor(); // shown once the reply is complete
      const reply = page.getByTestId("message-assistant").last();
      await reply.locator("pre code").waitFor();
      assertStringIncludes(await reply.locator("pre code").innerText(), "return a + b");
      assertEquals(await reply.locator("pre code .tok-kw").first().innerText(), "def");
      assertEquals(await reply.locator("strong").innerText(), "bold");
      assertEquals(await reply.locator("em").innerText(), "italic");
      assertEquals(await reply.locator("p code").innerText(), "inline code");
      assertEquals(await reply.locator("li").count(), 2);
      const text = await reply.innerText();
      assertStringIncludes(text, "<script>alert(1)</script>");
      assertStringIncludes(text, "<img src=x onerror=alert(2)>");
      assertEquals(await page.locator("#messages script, #messages img").count(), 0);
      assertEquals(await reply.locator("a").count(), 1, "only the https link becomes a link");
      assertEquals(await reply.locator("a").getAttribute("href"), "https://example.com/");
      assertEquals(sent.length, 1);
      assertEquals(sent[0].messages, [{ role: "user", content: "Hello" }]);
      assertEquals([sent[0].temperature, sent[0].top_k, sent[0].max_tokens], [0.8, 50, 512]);
      await page.screenshot({ path: `${shots}/desktop.png` });

      // Shift+Enter adds a newline instead of sending
      await input.fill("Second");
      await input.press("Shift+Enter");
      await input.pressSequentially("question");
      assertEquals(await input.inputValue(), "Second\nquestion");
      assertEquals(sent.length, 1);
      await input.press("Enter");
      await page.getByTestId("message-assistant").nth(1).getByTestId("regenerate").waitFor();
      assertEquals(sent[1].messages.length, 3, "the full history is sent");
      assertEquals(sent[1].messages[2], { role: "user", content: "Second\nquestion" });

      // clicking the first user message edits it: history truncated there, text back in the input
      await page.getByTestId("message-user").first().click();
      assertEquals(await page.getByTestId("message-user").count(), 0);
      assertEquals(await input.inputValue(), "Hello");
      await input.fill("Hello edited");
      await input.press("Enter");
      await page.getByTestId("regenerate").waitFor();
      assertEquals(sent[2].messages, [{ role: "user", content: "Hello edited" }]);
      assertEquals(await page.getByTestId("message-content").innerText(), "Answer number 3.");

      // regenerate: the reply is dropped and re-requested with the same history
      await page.getByTestId("regenerate").click();
      await page.getByTestId("message-assistant").getByText("Answer number 4.").waitFor();
      assertEquals(sent[3].messages, [{ role: "user", content: "Hello edited" }]);
      assertEquals(await page.getByTestId("message-assistant").count(), 1);

      // new conversation: the button, and Ctrl+Shift+N
      await page.getByTestId("new-chat").click();
      await page.getByTestId("empty").waitFor();
      assertEquals(await page.locator(".msg").count(), 0);
      await input.fill("again");
      await input.press("Enter");
      await page.getByTestId("regenerate").waitFor();
      await page.keyboard.press("Control+Shift+N");
      await page.getByTestId("empty").waitFor();

      // settings persist in localStorage and go into requests
      await page.getByTestId("settings-toggle").click();
      await page.getByTestId("temperature").fill("0.3");
      await page.getByTestId("temperature").dispatchEvent("change");
      await page.getByTestId("top-k").fill("500"); // clamped to 200
      await page.getByTestId("top-k").dispatchEvent("change");
      await page.reload();
      assertEquals(await page.getByTestId("temperature").inputValue(), "0.3");
      assertEquals(await page.getByTestId("top-k").inputValue(), "200");

      // busy server: 503 with Retry-After shows a countdown, then retries by itself
      let busyOnce = true;
      await page.route("**/chat/completions", (route) => {
        if (!busyOnce) return route.continue();
        busyOnce = false;
        return route.fulfill({
          status: 503,
          headers: { "retry-after": "2", "content-type": "application/json" },
          body: JSON.stringify({ error: "all workers are busy" }),
        });
      });
      const sentBefore = sent.length;
      await input.fill("busy?");
      await input.press("Enter");
      const banner = page.getByTestId("error-banner");
      await banner.waitFor();
      assertMatch(await banner.innerText(), /server busy, retrying in \d+ s/i);
      await page.getByTestId("regenerate").waitFor({ timeout: 10_000 });
      assert(await banner.isHidden(), "the banner goes once the retry succeeds");
      assertEquals(sent.length, sentBefore + 2);
      assertEquals([sent.at(-1)!.temperature, sent.at(-1)!.top_k], [0.3, 200]);
      await page.unrouteAll();

      // phone layout: 375 px wide, long code and text, no horizontal overflow
      await page.getByTestId("new-chat").click();
      engine.calls = 0; // the next answer is the markdown one again
      await page.setViewportSize({ width: 375, height: 740 });
      await input.fill("a long question ".repeat(20) + "https://example.com/" + "x".repeat(120));
      await input.press("Enter");
      await page.getByTestId("regenerate").waitFor();
      const scrollWidth = await page.evaluate("document.scrollingElement.scrollWidth") as number;
      assert(scrollWidth <= 375, `no horizontal overflow on a phone (scrollWidth ${scrollWidth})`);
      await page.screenshot({ path: `${shots}/phone.png` });

      // server down: sending shows the unreachable banner and gives the text back to the input
      await server.shutdown();
      serverUp = false;
      await input.fill("anyone there?");
      await input.press("Enter");
      await banner.waitFor();
      assertStringIncludes(await banner.innerText(), "Cannot reach the nanochat server");
      assertEquals(await input.inputValue(), "anyone there?");
      await page.screenshot({ path: `${shots}/down.png` });
      await page.reload().catch(() => {}); // the page itself is gone now; a fresh load also fails
      assertEquals(dialogs, [], "no script from the model ran");
      assertEquals(pageErrors, []);
      assertEquals(foreign, [], "the page loads nothing from elsewhere");
      for (const name of ["desktop.png", "phone.png", "down.png"]) {
        assert((await Deno.stat(`${shots}/${name}`)).size > 0);
      }
    });
  } finally {
    await browser?.close();
    if (serverUp) await server.shutdown();
  }
});
