// Child process of the tokenizer bench: trains on a JSONL corpus and prints time and peak RSS as JSON,
// so our memory is measured the same way as the Python reference's (whole process, from start).
import { Tokenizer } from "../../src/tokenizer/tokenizer.ts";

const [corpusPath, vocabSize, outDir] = Deno.args;
const texts = (await Deno.readTextFile(corpusPath)).trimEnd().split("\n").map((l) => JSON.parse(l) as string);
const t0 = performance.now();
const tok = await Tokenizer.train(texts, { vocabSize: Number(vocabSize) });
const seconds = (performance.now() - t0) / 1000;
tok.save(outDir);
const status = await Deno.readTextFile("/proc/self/status");
const hwmKb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? "0");
console.log(JSON.stringify({ seconds, peak_rss_bytes: hwmKb * 1024 }));
