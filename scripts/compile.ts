// `deno task compile`: `deno compile` of the CLI into dist/nanochat with the native libraries embedded:
// the BPE library and the cpu backend always, the cuda backend (kernels/build/libnanochat_cuda.so) when
// this machine built it (a CUDA 13.0 toolchain was found). The compiled program extracts them on first
// use; without the cuda one, --device cuda says the backend is not available and auto runs on the CPU.
import { fileURLToPath } from "node:url";

const root = (p: string) => fileURLToPath(new URL(`../${p}`, import.meta.url));
const required = ["ffi/bpe/target/release/libnanochat_bpe.so", "kernels/build/libnanochat_cpu.so"];
const optional = ["kernels/build/libnanochat_cuda.so"];

function exists(p: string): boolean {
  try {
    return Deno.statSync(root(p)).isFile;
  } catch {
    return false;
  }
}

const missing = required.filter((p) => !exists(p));
if (missing.length > 0) {
  console.error(`error: ${missing.join(", ")} not built: run \`deno task build\` first`);
  Deno.exit(1);
}
const includes = [...required, ...optional.filter(exists)];
for (const p of optional) console.error(`${exists(p) ? "embedding" : "not built, not embedded:"} ${p}`);
const args = [
  "compile",
  "-A",
  ...includes.flatMap((p) => ["--include", p]),
  "--output",
  "dist/nanochat",
  "src/cli/main.ts",
];
const { code } = await new Deno.Command(Deno.execPath(), {
  args,
  cwd: root(""),
  stdout: "inherit",
  stderr: "inherit",
})
  .output();
Deno.exit(code);
