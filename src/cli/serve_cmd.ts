// `nanochat serve`: the chat server (nanochat's web protocol and an OpenAI-compatible API) over the chat
// models under the base dir: one per stage with checkpoints (base, mid, sft, rl), picked per request.
import type { Command } from "commander";
import { checkpointDir, findModelTag, latestCheckpoint, type Stage } from "../checkpoint/checkpoint.ts";
import { UserError } from "../common/errors.ts";
import { CHAT_SOURCES, loadChatModel, type LoadedChatModel } from "../engine/load.ts";
import { createApp } from "../server/app.ts";
import { type LoadedEngines, ModelCatalog, ModelLoadError, type ModelSpec } from "../server/models.ts";
import { UI_HTML } from "../ui/page.ts";
import type { DeviceRequest } from "../model/context.ts";
import { deviceOption, globalOptions, parseIntOption, parseNumberOption } from "./context.ts";

interface ServeOptions {
  source: Stage;
  modelTag?: string;
  step?: number;
  port: number;
  host: string;
  workers: number;
  maxQueue: number;
  maxLoaded: number;
  apiKey?: string;
  temperature: number;
  topK: number;
  maxTokens: number;
  device: DeviceRequest;
  threads?: number;
}

export function registerServeCommand(program: Command): void {
  program.command("serve")
    .description(
      "serve chat models over HTTP: the web UI at /, POST /chat/completions (SSE) and /v1/chat/completions " +
        "(OpenAI). Every stage with checkpoints (base, mid, sft, rl) is offered (GET /v1/models, the UI's " +
        "picker, `model` in a request); -i picks the default, loaded at start, the others load when first asked",
    )
    .option("-i, --source <source>", `the default model's stage: ${CHAT_SOURCES.join(", ")}`, "sft")
    .option("--model-tag <tag>", "the default stage's model tag (default: the largest model)")
    .option(
      "--step <n>",
      "the default stage's checkpoint step (default: the latest)",
      parseIntOption("--step"),
    )
    .option("--port <n>", "port to listen on (0 = any free port)", parseIntOption("--port"), 8000)
    .option("--host <host>", "address to bind", "127.0.0.1")
    .option("--workers <n>", "model replicas serving requests in parallel", parseIntOption("--workers"), 1)
    .option(
      "--max-queue <n>",
      "requests that may wait for a worker before 503",
      parseIntOption("--max-queue"),
      32,
    )
    .option(
      "--max-loaded <n>",
      "models kept in memory at once; asking for another unloads the least recently used idle one",
      parseIntOption("--max-loaded"),
      2,
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
    .action(async (opts: ServeOptions, cmd: Command) => {
      const { baseDir } = globalOptions(cmd);
      if (!CHAT_SOURCES.includes(opts.source)) {
        throw new UserError(`-i must be one of ${CHAT_SOURCES.join(", ")}`);
      }
      if (opts.workers < 1) throw new UserError("--workers must be at least 1");
      if (opts.maxQueue < 0) throw new UserError("--max-queue must be >= 0");
      if (opts.maxLoaded < 1) throw new UserError("--max-loaded must be at least 1");
      if (opts.port < 0 || opts.port > 65535) throw new UserError("--port must be between 0 and 65535");
      if (opts.temperature < 0 || opts.temperature > 2) throw new UserError("--temperature must be in 0..2");
      if (opts.topK < 0 || opts.topK > 200) throw new UserError("--top-k must be in 0..200");
      if (opts.maxTokens < 1 || opts.maxTokens > 4096) throw new UserError("--max-tokens must be in 1..4096");
      const apiKey: string | undefined = opts.apiKey ?? Deno.env.get("NANOCHAT_API_KEY") ?? undefined;
      // fail on a busy port before spending time loading a model
      if (opts.port !== 0) {
        try {
          Deno.listen({ hostname: opts.host, port: opts.port }).close();
        } catch (err) {
          throw listenError(err, opts.host, opts.port);
        }
      }

      const specs = await discoverModels(baseDir, opts);
      const defaultSpec = specs.find((s) => s.stage === opts.source)!;
      const catalog = new ModelCatalog(specs, {
        defaultId: defaultSpec.id,
        maxLoaded: opts.maxLoaded,
        maxQueue: opts.maxQueue,
      });
      try {
        await catalog.preload(defaultSpec.id);
      } catch (err) {
        throw err instanceof ModelLoadError ? err.cause : err;
      }
      const app = createApp({
        models: catalog,
        apiKey,
        defaults: { temperature: opts.temperature, topK: opts.topK, maxTokens: opts.maxTokens },
        uiHtml: UI_HTML,
      });

      const shutdown = new AbortController();
      let server: Deno.HttpServer;
      try {
        server = Deno.serve({
          hostname: opts.host,
          port: opts.port,
          signal: shutdown.signal,
          onListen: ({ hostname, port }) => {
            const host = hostname.includes(":") ? `[${hostname}]` : hostname;
            console.log(
              `nanochat serving ${defaultSpec.id} (${opts.workers} worker(s)) at http://${host}:${port}/`,
            );
            console.log(`  OpenAI-compatible API: http://${host}:${port}/v1`);
            console.log(
              `  models: ${specs.map((s) => s.id).join(", ")} (at most ${opts.maxLoaded} loaded at once)`,
            );
          },
        }, app.fetch);
      } catch (err) {
        catalog.close();
        throw listenError(err, opts.host, opts.port);
      }
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
        catalog.close();
      }
    });
}

/**
 * One model per stage with checkpoints (its largest tag, latest step); the default stage (-i) always, with
 * --model-tag / --step, so that a missing one fails with loadChatModel's explanation.
 */
async function discoverModels(baseDir: string, opts: ServeOptions): Promise<ModelSpec[]> {
  const specs: ModelSpec[] = [];
  for (const stage of CHAT_SOURCES) {
    const isDefault = stage === opts.source;
    const tag = (isDefault ? opts.modelTag : undefined) ?? await findModelTag(baseDir, stage).catch((err) => {
      if (err instanceof UserError) return undefined; // no checkpoint of this stage
      throw err;
    });
    if (tag === undefined && !isDefault) continue;
    const step = (isDefault ? opts.step : undefined) ??
      (tag === undefined ? undefined : (await latestCheckpoint(checkpointDir(baseDir, stage, tag)))?.step);
    if (step === undefined && !isDefault) continue;
    const id = tag === undefined || step === undefined
      ? `nanochat-${stage}`
      : `nanochat-${stage}-${tag}-${step}`;
    specs.push({
      id,
      stage,
      tag,
      step,
      load: () =>
        loadReplicas(
          opts.workers,
          () =>
            loadChatModel({
              baseDir,
              source: stage,
              modelTag: tag,
              step,
              device: opts.device,
              threads: opts.threads,
            }),
        ),
    });
  }
  return specs;
}

/** `n` replicas of a model; frees those already loaded when one fails. */
async function loadReplicas(n: number, load: () => Promise<LoadedChatModel>): Promise<LoadedEngines> {
  const models: LoadedChatModel[] = [];
  try {
    for (let i = 0; i < n; i++) models.push(await load());
  } catch (err) {
    for (const m of models) m.close();
    throw err;
  }
  return { engines: models.map((m) => m.engine), close: () => models.forEach((m) => m.close()) };
}

/** A one-line explanation of why the server cannot listen, or the error itself when it is something else. */
function listenError(err: unknown, host: string, port: number): unknown {
  if (err instanceof Deno.errors.AddrInUse) {
    return new UserError(
      `port ${port} on ${host} is already in use (another nanochat serve?): stop that program, or pick ` +
        `another port with --port (0 picks a free one)`,
    );
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return new UserError(`listening on port ${port} needs privileges: pick a port above 1023 with --port`);
  }
  if (
    err instanceof Deno.errors.AddrNotAvailable ||
    /lookup address|Name or service not known/i.test(String(err))
  ) {
    return new UserError(
      `cannot listen on --host ${host}: it is not an address of this machine (use 127.0.0.1, or 0.0.0.0 for all)`,
    );
  }
  return err;
}
