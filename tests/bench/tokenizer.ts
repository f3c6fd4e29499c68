// `deno task bench:tokenizer`: tokenizer throughput and training cost, side by side with the references.
//
// Encode: ours (single document at a time, and parallel batch) against npm tiktoken (wasm) and Python
// tiktoken on the same vocabulary and text. Training: ours against PyPI rustbpe on the same corpus at
// vocab 65536, time and peak RSS, each in a fresh child process. Python references are skipped (with a
// note) when `pip install rustbpe tiktoken` has not been run.
import { join } from "node:path";
import { Tiktoken } from "tiktoken";
import { bpe } from "../../ffi/bpe.ts";
import { iterRowGroups } from "../../src/data/parquet.ts";
import { SPECIAL_TOKENS } from "../../src/tokenizer/special.ts";
import { Tokenizer } from "../../src/tokenizer/tokenizer.ts";
import { sharedPretrainDir } from "../helpers.ts";

const TRAIN_BYTES = Number(Deno.env.get("BENCH_TRAIN_MB") ?? "100") * 1e6;
const VOCAB = Number(Deno.env.get("BENCH_VOCAB") ?? "65536");
const pyRef = new URL("./tokenizer_reference.py", import.meta.url).pathname;
const childScript = new URL("./tokenizer_train_child.ts", import.meta.url).pathname;

const dataDir = sharedPretrainDir() ?? Deno.env.get("BENCH_DATA_DIR");
if (!dataDir) throw new Error("no pretraining shards: set BENCH_DATA_DIR to a folder of shard_*.parquet");
const docs: string[] = [];
for (const split of ["train", "val"] as const) {
  for await (const b of iterRowGroups(split, { dataDir })) docs.push(...b.texts);
}
const utf8 = new TextEncoder();
const corpusBytes = docs.reduce((a, d) => a + utf8.encode(d).length, 0);
console.log(`corpus: ${docs.length} documents, ${(corpusBytes / 1e6).toFixed(1)} MB of text from ${dataDir}`);
console.log(`machine: ${navigator.hardwareConcurrency} logical cores\n`);

const tmp = await Deno.makeTempDir({ prefix: "nanochat-bench-" });
try {
  // ---- training: the real corpus repeated until TRAIN_BYTES (only 12 MB of real text exists offline)
  const reps = Math.max(1, Math.round(TRAIN_BYTES / corpusBytes));
  const corpusPath = join(tmp, "corpus.jsonl");
  const lines = docs.map((d) => JSON.stringify(d)).join("\n") + "\n";
  await Deno.writeTextFile(corpusPath, lines.repeat(reps));
  console.log(`## Training, vocab ${VOCAB}, ${(corpusBytes * reps / 1e6).toFixed(0)} MB (corpus x${reps})\n`);
  const ours = await runJson(["deno", "run", "-A", childScript, corpusPath, String(VOCAB), join(tmp, "tok")]);
  const ref = await runJson(["python3", pyRef, "train", corpusPath, String(VOCAB)]);
  console.log("| trainer | seconds | peak RSS |\n|---|---:|---:|");
  console.log(`| ours (Rust over Deno FFI) | ${ours!.seconds.toFixed(1)} | ${mb(ours!.peak_rss_bytes)} |`);
  if (ref) {
    console.log(`| rustbpe (PyPI) | ${ref.seconds.toFixed(1)} | ${mb(ref.peak_rss_bytes)} |`);
    console.log(`\nspeed ratio ours/rustbpe: ${(ref.seconds / ours!.seconds).toFixed(2)}x`);
  } else console.log("| rustbpe (PyPI) | skipped: pip install rustbpe | |");

  // ---- encoding, on the trained vocabulary
  const tok = Tokenizer.load(join(tmp, "tok"));
  const sample = docs.slice(0, Math.min(docs.length, 2000));
  const sampleBytes = sample.reduce((a, d) => a + utf8.encode(d).length, 0);
  console.log(
    `\n## Encoding ${sample.length} documents, ${(sampleBytes / 1e6).toFixed(1)} MB, vocab ${VOCAB}\n`,
  );
  const rows: [string, number][] = [];
  tok.encodeRaw(sample[0]); // warm up
  rows.push(["ours, one document per call", timeIt(() => sample.forEach((d) => tok.encodeRaw(d)))]);
  for (const threads of [1, navigator.hardwareConcurrency]) {
    bpe().bpe_set_num_threads(threads);
    rows.push([`ours, batch, ${threads} thread(s)`, timeIt(() => tok.encodeBatchRaw(sample))]);
  }
  bpe().bpe_set_num_threads(0);
  const rankFile = await Deno.readTextFile(join(tmp, "tok", "tokenizer.tiktoken"));
  const specials = Object.fromEntries(SPECIAL_TOKENS.map((s, i) => [s, tok.numRanks + i]));
  const npm = new Tiktoken(rankFile, specials, tok.pattern);
  npm.encode_ordinary(sample[0]);
  rows.push([
    "npm tiktoken (wasm), one document per call",
    timeIt(() => sample.forEach((d) => npm.encode_ordinary(d))),
  ]);
  npm.free();
  const textsPath = join(tmp, "texts.jsonl");
  await Deno.writeTextFile(textsPath, sample.map((d) => JSON.stringify(d)).join("\n") + "\n");
  const py = await runJson([
    "python3",
    pyRef,
    "encode",
    join(tmp, "tok"),
    textsPath,
    String(navigator.hardwareConcurrency),
  ]);
  if (py) {
    rows.push(["Python tiktoken, one document per call", py.single_seconds]);
    rows.push([`Python tiktoken, batch, ${navigator.hardwareConcurrency} threads`, py.batch_seconds]);
  }
  const npmSeconds = rows.find(([n]) => n.startsWith("npm"))![1];
  console.log("| encoder | MB/s | vs npm tiktoken |\n|---|---:|---:|");
  for (const [name, seconds] of rows) {
    console.log(
      `| ${name} | ${(sampleBytes / 1e6 / seconds).toFixed(2)} | ${(npmSeconds / seconds).toFixed(2)}x |`,
    );
  }
  if (!py) console.log("| Python tiktoken | skipped: pip install tiktoken | |");
  tok.free();
} finally {
  await Deno.remove(tmp, { recursive: true });
}

function timeIt(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(0)} MB`;
}

// deno-lint-ignore no-explicit-any
async function runJson(cmd: string[]): Promise<any | null> {
  const exe = cmd[0] === "deno" ? Deno.execPath() : cmd[0];
  const out = await new Deno.Command(exe, { args: cmd.slice(1), stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr);
    if (cmd[0] === "python3" && /ModuleNotFoundError/.test(err)) return null;
    throw new Error(`${cmd.join(" ")} failed:\n${err}`);
  }
  const text = new TextDecoder().decode(out.stdout).trim().split("\n");
  return JSON.parse(text[text.length - 1]);
}
