// `nanochat serve`: the chat server (nanochat's web protocol and an OpenAI-compatible API).
import type { Command } from "commander";
import { UserError } from "../common/errors.ts";
import { loadChatModel } from "../engine/load.ts";
import { createApp } from "../server/app.ts";
import { WorkerPool } from "../server/pool.ts";
import { UI_HTML } from "../ui/page.ts";
import { deviceOption, globalOptions, parseIntOption, parseNumberOption } from "./context.ts";

const SOURCES = ["base", "mid", "sft", "rl"];

export function registerServeCommand(program: Command): void {
  program.command("serve")
    .description(
      "serve a chat model over HTTP: POST /chat/completions (SSE) and /v1/chat/completions (OpenAI)",
    )
    .option("-i, --source <source>", `which checkpoint family: ${SOURCES.join(", ")}`, "sft")
    .option("--model-tag <tag>", "model tag (default: the largest model)")
    .option("--step <n>", "checkpoint step (default: the latest)", parseIntOption("--step"))
    .option("--port <n>", "port to listen on (0 = any free port)", parseIntOption("--port"), 8000)
    .option("--host <host>", "address to bind", "127.0.0.1")
    .option("--workers <n>", "model replicas serving requests in parallel", parseIntOption("--workers"), 1)
    .option(
      "--max-queue <n>",
      "requests that may wait for a worker before 503",
      parseIntOption("--max-queue"),
      32,
    )
    .option("--api-key <key>", "require Authorization: Bearer <key> (env NANOCHAT_API_KEY)")
    .option("-t, --temperature <t>", "default sampling temperature", parseNumberOption("--temperature"), 0.8)
    .option("-k, --top-k <k>", "default top-k (0 = off)", parseIntOption("--top-k"), 50)
    .option("--max-tokens <n>", "default most tokens per reply", parseIntOption("--max-tokens"), 512)
    .addOption(deviceOption())
    .option(
      "--threads <n>",
      "CPU threads per worker (default: the engine's choice)",
      parseIntOption("--threads"),
    )
    .action(async (opts, cmd: Command) => {
      const { baseDir } = globalOptions(cmd);
      if (!SOURCES.includes(opts.source)) throw new UserError(`-i must be one of ${SOURCES.join(", ")}`);
      if (opts.workers < 1) throw new UserError("--workers must be at least 1");
      if (opts.maxQueue < 0) throw new UserError("--max-queue must be >= 0");
      if (opts.port < 0 || opts.port > 65535) throw new UserError("--port must be between 0 and 65535");
      if (opts.temperature < 0 || opts.temperature > 2) throw new UserError("--temperature must be in 0..2");
      if (opts.topK < 0 || opts.topK > 200) throw new UserError("--top-k must be in 0..200");
      if (opts.maxTokens < 1 || opts.maxTokens > 4096) throw new UserError("--max-tokens must be in 1..4096");
      const apiKey: string | undefined = opts.apiKey ?? Deno.env.get("NANOCHAT_API_KEY") ?? undefined;

      const models = [];
      try {
        for (let i = 0; i < opts.workers; i++) {
          models.push(
            await loadChatModel({
              baseDir,
              source: opts.source,
              modelTag: opts.modelTag,
              step: opts.step,
              device: opts.device,
              threads: opts.threads,
            }),
          );
        }
      } catch (err) {
        for (const m of models) m.close();
        throw err;
      }
      const { tag, step } = models[0];
      const modelName = `nanochat-${opts.source}-${tag}-${step}`;
      const app = createApp({
        workers: new WorkerPool(models.map((m) => m.engine), opts.maxQueue),
        apiKey,
        modelName,
        defaults: { temperature: opts.temperature, topK: opts.topK, maxTokens: opts.maxTokens },
        uiHtml: UI_HTML,
      });

      const shutdown = new AbortController();
      const server = Deno.serve({
        hostname: opts.host,
        port: opts.port,
        signal: shutdown.signal,
        onListen: ({ hostname, port }) => {
          const host = hostname.includes(":") ? `[${hostname}]` : hostname;
          console.log(`nanochat serving ${modelName} (${opts.workers} worker(s)) at http://${host}:${port}/`);
          console.log(`  OpenAI-compatible API: http://${host}:${port}/v1`);
        },
      }, app.fetch);
      const stop = () => {
        console.log("shutting down...");
        shutdown.abort();
      };
      const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
      for (const s of signals) Deno.addSignalListener(s, stop);
      try {
        await server.finished;
      } finally {
        for (const s of signals) Deno.removeSignalListener(s, stop);
        for (const m of models) m.close();
      }
    });
}
