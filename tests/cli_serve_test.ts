// `nanochat serve` end to end: a real subprocess serving tiny trained checkpoints (base and sft: the stage
// picker's models, one loaded at a time), answered through the official OpenAI client (streaming and not)
// and nanochat's own SSE protocol, then shut down by SIGINT.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import { makeTinyBaseCheckpoint, sharedPretrainDir, withTempDir } from "./helpers.ts";

const SHARED = sharedPretrainDir();

Deno.test({
  name: "serve: a trained checkpoint answers the OpenAI client and the SSE protocol",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyBaseCheckpoint(base, SHARED!);
      // the same weights as an SFT checkpoint too: serve offers both stages, sft by default
      await Deno.mkdir(`${base}/chatsft_checkpoints/d2`, { recursive: true });
      for await (const e of Deno.readDir(`${base}/base_checkpoints/d2`)) {
        await Deno.copyFile(
          `${base}/base_checkpoints/d2/${e.name}`,
          `${base}/chatsft_checkpoints/d2/${e.name}`,
        );
      }
      const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", main, "--base-dir", base, "serve", "--port", "0", "--max-loaded", "1"],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let out = "";
      let url: string | undefined;
      for (let i = 0; i < 100 && url === undefined; i++) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
        url = /at (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1];
      }
      try {
        assert(url, `serve did not print its address:\n${out}`);
        assertStringIncludes(out, "nanochat serving nanochat-sft-d2-3");
        const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
        const models = await client.models.list();
        assertEquals(models.data.map((m) => m.id), ["nanochat-base-d2-3", "nanochat-sft-d2-3"]);
        // the base model loads on its first request (unloading the idle sft model: --max-loaded 1)
        const fromBase = await client.chat.completions.create({
          model: "base",
          messages: [{ role: "user", content: "Hi" }],
          max_tokens: 3,
          temperature: 0,
        });
        assertEquals(fromBase.model, "nanochat-base-d2-3");
        const unknown = await fetch(`${url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "rl", messages: [{ role: "user", content: "Hi" }] }),
        });
        assertEquals(unknown.status, 404);
        assertEquals((await unknown.json()).error.code, "model_not_found");
        const messages = [{ role: "user" as const, content: "The capital of France is" }];
        const plain = await client.chat.completions.create({
          model: "nanochat",
          messages,
          max_tokens: 6,
          temperature: 0,
        });
        assertEquals(plain.choices[0].message.role, "assistant");
        assert(
          plain.usage!.completion_tokens >= 1 && plain.usage!.completion_tokens <= 6,
          JSON.stringify(plain.usage),
        );
        const stream = await client.chat.completions.create({
          model: "nanochat",
          messages,
          max_tokens: 6,
          temperature: 0,
          stream: true,
        });
        let streamed = "";
        for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? "";
        assertEquals(streamed, plain.choices[0].message.content);

        const sse = await fetch(`${url}/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ messages, max_tokens: 4, temperature: 0 }),
        });
        const text = await sse.text();
        assertStringIncludes(text, 'data: {"token":');
        assertStringIncludes(text, 'data: {"done":true}');
        const page = await fetch(`${url}/`);
        assertStringIncludes(await page.text(), "<html");
      } finally {
        child.kill("SIGINT");
        for (;;) {
          const { done } = await reader.read();
          if (done) break;
        }
        await child.stderr.cancel();
        assertEquals((await child.status).code, 0);
      }
    }),
});
