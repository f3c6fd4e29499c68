// `nanochat chat`: talk to a trained model in the terminal (one prompt with -p, or a REPL).
import { type Command, InvalidArgumentError } from "commander";
import { UserError } from "../common/errors.ts";
import type { Engine } from "../engine/engine.ts";
import { CHAT_SOURCES, loadChatModel } from "../engine/load.ts";
import type { GenerateOptions } from "../engine/types.ts";
import { renderForCompletion } from "../tokenizer/render.ts";
import type { Stage } from "../checkpoint/checkpoint.ts";
import { deviceOption, globalOptions, parseIntOption, parseNumberOption } from "./context.ts";

const HELP = [
  "Commands:",
  "  /clear  start a new conversation",
  "  /help   show this help",
  "  /quit   exit (also /exit, Ctrl-D, or Ctrl-C at the prompt)",
  "Ctrl-C while the assistant is answering stops that answer.",
].join("\n");

const encoder = new TextEncoder();

function write(text: string): void {
  const bytes = encoder.encode(text);
  for (let off = 0; off < bytes.length;) off += Deno.stdout.writeSync(bytes.subarray(off));
}

function parseSource(value: string): Stage {
  if (!(CHAT_SOURCES as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`-i expects one of ${CHAT_SOURCES.join(", ")}, got "${value}"`);
  }
  return value as Stage;
}

/** Lines of stdin, one at a time (without the newline); null at end of input. */
class LineReader {
  #reader = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
  #buf = "";
  #eof = false;

  async next(): Promise<string | null> {
    for (;;) {
      const nl = this.#buf.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buf.slice(0, nl).replace(/\r$/, "");
        this.#buf = this.#buf.slice(nl + 1);
        return line;
      }
      if (this.#eof) {
        if (this.#buf === "") return null;
        const line = this.#buf;
        this.#buf = "";
        return line;
      }
      const { value, done } = await this.#reader.read();
      if (done) this.#eof = true;
      else this.#buf += value;
    }
  }

  cancel(): void {
    this.#reader.cancel().catch(() => {});
  }
}

/** Streams one answer to stdout; returns the generated tokens and why generation ended. */
async function answer(
  engine: Engine,
  prompt: number[],
  options: GenerateOptions,
): Promise<{ tokens: number[]; finish: string }> {
  const tokens: number[] = [];
  const it = engine.stream(prompt, options);
  for (;;) {
    const r = await it.next();
    if (r.done) return { tokens, finish: r.value };
    tokens.push(r.value.token);
    if (r.value.text) write(r.value.text);
  }
}

export function registerChatCommand(program: Command): void {
  program.command("chat")
    .description("chat with a trained model in the terminal")
    .option("-i, --source <stage>", `model to load: ${CHAT_SOURCES.join("|")}`, parseSource, "sft")
    .option("--model-tag <tag>", "checkpoint folder (default: the largest d<N>)")
    .option("--step <n>", "checkpoint step (default: the latest)", parseIntOption("--step"))
    .option("-p, --prompt <text>", "answer this one prompt and exit")
    .option("-t, --temperature <t>", "sampling temperature (0: greedy)", parseNumberOption("-t"), 0.6)
    .option("-k, --top-k <k>", "sample among the k likeliest tokens (0: all)", parseIntOption("-k"), 50)
    .option("--max-tokens <n>", "longest answer in tokens", parseIntOption("--max-tokens"), 512)
    .option("--seed <n>", "sampling seed", parseIntOption("--seed"), 42)
    .addOption(deviceOption())
    .option("--threads <n>", "CPU threads (0: all cores)", parseIntOption("--threads"), 0)
    .action(async (opts, cmd: Command) => {
      const { baseDir } = globalOptions(cmd);
      if (!(opts.temperature >= 0)) throw new UserError(`-t must be >= 0, got ${opts.temperature}`);
      if (opts.topK < 0) throw new UserError(`-k must be >= 0, got ${opts.topK}`);
      if (opts.maxTokens < 1) throw new UserError(`--max-tokens must be >= 1, got ${opts.maxTokens}`);
      const loaded = await loadChatModel({
        baseDir,
        source: opts.source,
        modelTag: opts.modelTag,
        step: opts.step,
        device: opts.device,
        threads: opts.threads,
      });
      try {
        const { engine, tokenizer } = loaded;
        const settings = (seed: number): GenerateOptions => ({
          temperature: opts.temperature,
          topK: opts.topK,
          maxTokens: opts.maxTokens,
          seed,
        });
        if (opts.prompt !== undefined) {
          const prompt = renderForCompletion(tokenizer, {
            messages: [{ role: "user", content: opts.prompt }, { role: "assistant", content: "" }],
          }, Infinity);
          await answer(engine, prompt, settings(opts.seed));
          write("\n");
          return;
        }
        await repl(engine, settings, opts.seed, `${opts.source} ${loaded.tag} step ${loaded.step}`);
      } finally {
        loaded.close();
      }
    });
}

async function repl(
  engine: Engine,
  settings: (seed: number) => GenerateOptions,
  seed: number,
  name: string,
): Promise<void> {
  const tok = engine.tokenizer;
  const sp = (s: string) => tok.encodeSpecial(s);
  const [userStart, userEnd, assistantStart, assistantEnd] = [
    sp("<|user_start|>"),
    sp("<|user_end|>"),
    sp("<|assistant_start|>"),
    sp("<|assistant_end|>"),
  ];
  let history: number[] = [tok.bosId];
  let turn = 0;
  let answering: AbortController | null = null;
  let interrupted: () => void = () => {};
  const atPrompt = new Promise<null>((resolve) => interrupted = () => resolve(null));
  const onSigint = () => {
    if (answering) answering.abort();
    else interrupted();
  };
  Deno.addSignalListener("SIGINT", onSigint);
  const lines = new LineReader();
  write(`nanochat: ${name}. Type /help for commands.\n`);
  try {
    for (;;) {
      write("\nUser: ");
      const line = await Promise.race([lines.next(), atPrompt]);
      if (line === null) {
        write("\n");
        return;
      }
      const text = line.trim();
      if (text === "") continue;
      if (text === "/quit" || text === "/exit") return;
      if (text === "/help") {
        write(HELP + "\n");
        continue;
      }
      if (text === "/clear") {
        history = [tok.bosId];
        write("(conversation cleared)\n");
        continue;
      }
      const prompt = [...history, userStart, ...tok.encode(text), userEnd, assistantStart];
      const limit = engine.model.config.sequenceLen;
      if (prompt.length >= limit) {
        write(
          `(the conversation is ${prompt.length} tokens, the model's context is ${limit}: /clear to start over)\n`,
        );
        continue;
      }
      write("\nAssistant: ");
      answering = new AbortController();
      try {
        const { tokens, finish } = await answer(engine, prompt, {
          ...settings(seed + turn++),
          signal: answering.signal,
        });
        if (finish === "aborted") write(" [stopped]");
        write("\n");
        history = [...prompt, ...tokens, assistantEnd];
      } finally {
        answering = null;
      }
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
    lines.cancel();
  }
}
