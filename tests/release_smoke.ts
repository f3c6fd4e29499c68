// Smoke test of a release binary, run by .github/workflows/release.yml after `deno compile` on each target:
// the program trains a tokenizer (the Rust BPE library) and takes two base-training steps (the CPU compute
// library) on two small generated parquet shards, in a fresh base dir, so its first-run extraction of both
// embedded native libraries happens for real; then the extracted copies are checked.
//   deno run -A tests/release_smoke.ts dist/nanochat            (a compiled program: expects the extraction)
//   deno run -A tests/release_smoke.ts --from-source             (this checkout through `deno run`: no extraction)
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parquetWriteBuffer } from "hyparquet-writer";
import { sharedLibraryName } from "../ffi/loader.ts";
import { shardFileName } from "../src/data/parquet.ts";

const arg = Deno.args[0];
if (!arg) {
  console.error("usage: deno run -A tests/release_smoke.ts <compiled nanochat> | --from-source");
  Deno.exit(2);
}
const fromSource = arg === "--from-source";
const command = fromSource
  ? [Deno.execPath(), "run", "-A", fileURLToPath(new URL("../src/cli/main.ts", import.meta.url))]
  : [arg];

const base = await Deno.makeTempDir({ prefix: "nanochat-release-smoke-" });
const data = join(base, "shards");
await Deno.mkdir(data);
// two shards of plain English-like text: the first is the train split, the last the validation split
const words = "the model reads text and learns to predict the next token of every document it sees".split(
  " ",
);
for (let s = 0; s < 2; s++) {
  const texts = Array.from(
    { length: 200 },
    (_, i) => Array.from({ length: 40 }, (_, j) => words[(i * 7 + j * 3 + s) % words.length]).join(" "),
  );
  const buffer = parquetWriteBuffer({ columnData: [{ name: "text", data: texts, type: "STRING" }] });
  await Deno.writeFile(join(data, shardFileName(s)), new Uint8Array(buffer));
}

async function nanochat(args: string[]): Promise<string> {
  const out = await new Deno.Command(command[0], {
    args: [...command.slice(1), ...args],
    env: { NANOCHAT_BASE_DIR: base, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`nanochat ${args.join(" ")} failed (exit ${out.code}):\n${text}`);
  return text;
}

try {
  console.log((await nanochat(["--version"])).trim());
  await nanochat(["tokenizer", "train", "--data-dir", data, "--vocab-size", "300", "--max-chars", "100000"]);
  const train = await nanochat([
    ...["train", "base", "--depth", "2", "--max-seq-len", "32", "--device-batch-size", "2"],
    ...["--total-batch-size", "64", "--num-iterations", "2", "--eval-every", "-1", "--sample-every", "-1"],
    ...["--data-dir", data, "--device", "auto"],
  ]);
  if (!/saved checkpoint/.test(train)) throw new Error(`train base saved no checkpoint:\n${train}`);
  const extracted = (() => {
    try {
      return [...Deno.readDirSync(join(base, "lib"))].map((e) => e.name);
    } catch {
      return [];
    }
  })();
  for (const stem of ["nanochat_bpe", "nanochat_cpu"]) {
    const found = extracted.some((n) => new RegExp(`^[0-9a-f]{8}-${sharedLibraryName(stem)}$`).test(n));
    if (found === fromSource) {
      throw new Error(
        fromSource
          ? `running from source should not extract ${stem}: ${extracted.join(", ")}`
          : `the compiled program did not extract ${sharedLibraryName(stem)} into ${base}/lib: ${
            extracted.join(", ")
          }`,
      );
    }
  }
  console.log(
    `release smoke test passed (${fromSource ? "from source" : `extracted: ${extracted.join(", ")}`})`,
  );
} finally {
  await Deno.remove(base, { recursive: true });
}
