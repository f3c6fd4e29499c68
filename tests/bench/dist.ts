// `deno task bench:dist`: the CPU collectives nanochat's distributed optimizer uses (all-reduce,
// reduce-scatter, all-gather) between 2 and 3 processes on this host, side by side:
//   * ours: kernels/dist's Gloo communicator (kernels/build/nanochat_dist_bench);
//   * PyTorch's Gloo backend (torch.distributed) on the same sizes (skipped with a note when torch is
//     not importable; BENCH_TORCH_PATH adds a folder to PYTHONPATH).
// Bus bandwidth is NCCL's convention (bytes each rank must move): all-reduce 2(W-1)/W·S, reduce-scatter
// and all-gather (W-1)/W·S for a full buffer of S bytes; single-thread memcpy is the machine's ceiling.
import { fileURLToPath } from "node:url";

const ITERS = Number(Deno.env.get("BENCH_ITERS") ?? "10");
const CASES: [number, number][] = [[2, 1 << 20], [2, 1 << 23], [3, 3 << 20], [3, 3 << 21]]; // [ranks, floats]
const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  const last = dec.decode(out.stdout).trim().split("\n").pop() ?? "";
  return { ok: out.success, json: out.success ? JSON.parse(last) : null, stderr: dec.decode(out.stderr) };
}

const OPS = [["all_reduce", 2], ["reduce_scatter", 1], ["all_gather", 1]] as const;
const busGBps = (factor: number, w: number, bytes: number, s: number) =>
  factor * (w - 1) / w * bytes / s / 1e9;

console.log(
  `machine: ${navigator.hardwareConcurrency} cores (shared); median of ${ITERS} calls after a warm-up\n`,
);
console.log(
  "| ranks | buffer | op | ours ms | ours bus GB/s | PyTorch Gloo ms | PyTorch bus GB/s | ours / PyTorch time |",
);
console.log("|---:|---:|---|---:|---:|---:|---:|---:|");
let memcpy = 0;
for (const [w, floats] of CASES) {
  const args = [String(w), String(floats), String(ITERS)];
  const ours = await run(root("kernels/build/nanochat_dist_bench"), [
    "--ranks",
    args[0],
    "--floats",
    args[1],
    "--iters",
    args[2],
  ]);
  if (!ours.ok) throw new Error(`nanochat_dist_bench failed (run \`deno task build\`):\n${ours.stderr}`);
  memcpy = Math.max(memcpy, ours.json.memcpy_gbps);
  const torch = await run("python3", [root("tests/bench/dist_reference_torch.py"), ...args], {
    PYTHONPATH: Deno.env.get("BENCH_TORCH_PATH") ?? "",
  });
  const bytes = floats * 4;
  for (const [op, factor] of OPS) {
    const s = ours.json[`${op}_s`];
    const t = torch.ok ? torch.json[`${op}_s`] : NaN;
    console.log(
      `| ${w} | ${(bytes / 1e6).toFixed(1)} MB | ${op} | ${(s * 1e3).toFixed(2)} | ${
        busGBps(factor, w, bytes, s).toFixed(2)
      } | ` +
        (torch.ok
          ? `${(t * 1e3).toFixed(2)} | ${busGBps(factor, w, bytes, t).toFixed(2)} | ${(s / t).toFixed(2)}x |`
          : "skipped: torch not importable | - | - |"),
    );
  }
}
console.log(`\nsingle-thread memcpy on this machine: ${memcpy.toFixed(1)} GB/s`);
