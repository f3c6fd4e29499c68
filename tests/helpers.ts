// Shared test helpers: where the shared offline data lives, temp dirs, running the CLI, tiny fixtures.
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { zipSync } from "fflate";
import { iterTrainingText } from "../src/data/parquet.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";

/** The repository's sibling `shared/data/<name>` folder, or null when this checkout has none. */
function sharedDataDir(name: string): string | null {
  const path = fileURLToPath(new URL(`../../shared/data/${name}`, import.meta.url));
  try {
    return Deno.statSync(path).isDirectory ? path : null;
  } catch {
    return null;
  }
}

/** The pretraining shards in `shared/data/pretrain`, or null. */
export function sharedPretrainDir(): string | null {
  return sharedDataDir("pretrain");
}

/** The offline chat/task data in `shared/data/chat`, or null. */
export function sharedChatDir(): string | null {
  return sharedDataDir("chat");
}

/** The offline CORE bundle in `shared/data/eval_bundle`, or null. */
export function sharedEvalBundleDir(): string | null {
  return sharedDataDir("eval_bundle");
}

/** Runs `fn` with a fresh temporary directory that is removed afterwards. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T> | T): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "nanochat-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** torchrun's variables for rank `rank` of a one-node world of `worldSize`, meeting on 127.0.0.1:`port`. */
export function torchrunEnv(rank: number, worldSize: number, port: number | string): Record<string, string> {
  return {
    RANK: String(rank),
    WORLD_SIZE: String(worldSize),
    LOCAL_RANK: String(rank),
    LOCAL_WORLD_SIZE: String(worldSize),
    MASTER_ADDR: "127.0.0.1",
    MASTER_PORT: String(port),
  };
}

/** Runs the CLI in-process, capturing what it prints with console.log / console.error. */
export async function runCliCaptured(args: string[]): Promise<{ code: number; out: string; err: string }> {
  // imported lazily: most test files never need the whole command tree
  const { runCli } = await import("../src/cli/main.ts");
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    const code = await runCli(args);
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** Runs `nanochat ARGS` as a real subprocess (exit code, stdout, stderr), with its own base dir. */
export async function runCliProcess(
  args: string[],
  options: { env?: Record<string, string>; stdin?: string } = {},
): Promise<{ code: number; out: string; err: string }> {
  const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, ...args],
    env: { NO_COLOR: "1", ...options.env },
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const { code, stdout, stderr } = await child.output();
  const dec = new TextDecoder();
  return { code, out: dec.decode(stdout), err: dec.decode(stderr) };
}

/** A 512-token tokenizer trained on `maxChars` of the shards, saved as <base>/tokenizer. */
export async function makeTinyTokenizer(base: string, dataDir: string, maxChars = 200_000): Promise<void> {
  const tok = await Tokenizer.train(iterTrainingText({ dataDir, maxChars, docCap: 10_000 }), {
    vocabSize: 512,
  });
  tok.save(join(base, "tokenizer"));
  tok.free();
}

/**
 * `train base` flags for a d2 model (width 128, one head): sequence length `seqLen`, `batch` rows per
 * micro-batch, `total` tokens per step, no sampling; then `extra`.
 */
export function tinyBaseTrainArgs(
  seqLen: number,
  batch: number,
  total: number,
  ...extra: string[]
): string[] {
  return [
    ...["train", "base", "--depth", "2", "--max-seq-len", String(seqLen)],
    ...["--device-batch-size", String(batch), "--total-batch-size", String(total), "--sample-every", "-1"],
    ...extra,
  ];
}

/** A 512-token tokenizer and a 3-step d2 base checkpoint under `base` (about a second). */
export async function makeTinyBaseCheckpoint(base: string, dataDir: string): Promise<void> {
  await makeTinyTokenizer(base, dataDir);
  const res = await runCliProcess([
    ...["--base-dir", base],
    ...tinyBaseTrainArgs(64, 4, 256, "--eval-every", "-1", "--eval-tokens", "256", "--num-iterations", "3"),
    ...["--data-dir", dataDir],
  ]);
  if (res.code !== 0) throw new Error(`training the tiny checkpoint failed:\n${res.err}${res.out}`);
}

/**
 * Runs `nanochat ARGS` as a subprocess, sends `signal` once stdout matches `when`, and returns the exit
 * code and everything it printed on stdout and stderr.
 */
export async function runCliUntil(
  args: string[],
  when: RegExp,
  signal: Deno.Signal,
  timeoutMs = 120_000,
): Promise<{ code: number; out: string; err: string }> {
  const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  // a run that never prints `when` is killed, so the caller's assertions fail instead of hanging
  const deadline = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const err = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  while (!when.test(out)) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  child.kill(signal);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  const status = await child.status;
  clearTimeout(deadline);
  return { code: status.code, out, err: await err };
}

/** A CORE eval bundle zip with one task (copa, 12 two-choice rows, 0-shot), as the download serves it. */
export function tinyCoreBundleZip(): Uint8Array<ArrayBuffer> {
  const enc = new TextEncoder();
  const rows = Array.from(
    { length: 12 },
    (_, i) => JSON.stringify({ query: `Q${i}?`, choices: ["yes", "no"], gold: i % 2 }),
  );
  return zipSync({
    "eval_bundle/core.yaml": enc.encode(
      "icl_tasks:\n- label: copa\n  dataset_uri: x/copa.jsonl\n  num_fewshot: [0]\n  icl_task_type: multiple_choice\n",
    ),
    "eval_bundle/eval_meta_data.csv": enc.encode("Eval Task,Random baseline\ncopa,50\n"),
    "eval_bundle/eval_data/x/copa.jsonl": enc.encode(rows.join("\n") + "\n"),
  });
}
