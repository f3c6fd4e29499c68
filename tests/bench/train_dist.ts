// The data-parallel row of `deno task bench:train`: the same global batch of d4 (T=512, vocab 65536)
// trained by 1 rank with 2 threads, and by 2 ranks with 1 thread each (our launcher, Gloo over
// loopback), with the time per step spent in collectives (NcProfile comm_seconds: the gradient
// reduce-scatters / all-reduces and the parameter all-gathers of DistAdamW and DistMuon).
import { fileURLToPath } from "node:url";

const worker = fileURLToPath(new URL("./train_dist_worker.ts", import.meta.url));

interface WorkerResult {
  world: number;
  threads: number;
  B: number;
  step_seconds: number;
  comm_seconds: number;
  optimizer_seconds: number;
}

async function runWorker(args: string[]): Promise<WorkerResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", worker, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`the data-parallel bench worker failed:\n${dec.decode(out.stderr)}`);
  return JSON.parse(dec.decode(out.stdout).trim().split("\n").pop()!);
}

/** Prints the table comparing 1 rank x 2 threads with 2 ranks x 1 thread on one global batch. */
export async function dataParallelRows(
  opts: { depth: number; globalB: number; T: number; vocab: number; steps: number },
) {
  const { depth, globalB, T, vocab, steps } = opts;
  const common = (B: number, threads: number) => [depth, B, T, vocab, steps, threads].map(String);
  const one = await runWorker(common(globalB, 2));
  const port = (() => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const p = (l.addr as Deno.NetAddr).port;
    l.close();
    return p;
  })();
  const two = await runWorker([
    ...common(globalB / 2, 1),
    "--nproc-per-node",
    "2",
    "--master-port",
    String(port),
  ]);
  const tokens = globalB * T;
  console.log(
    `\ndata parallel, d${depth}, global batch ${globalB} x ${T} tokens, best of ${steps} steps:\n` +
      "| ranks x threads | B per rank | step s | tok/s | comm s/step (share) | optimizer s/step (incl. its comm) | speed vs 1 x 2 |\n" +
      "|---|---:|---:|---:|---:|---:|---:|",
  );
  for (const r of [one, two]) {
    console.log(
      `| ${r.world} x ${r.threads} | ${r.B} | ${r.step_seconds.toFixed(3)} | ${
        Math.round(tokens / r.step_seconds)
      } | ` +
        `${r.comm_seconds.toFixed(3)} (${(100 * r.comm_seconds / r.step_seconds).toFixed(1)}%) | ` +
        `${r.optimizer_seconds.toFixed(3)} | ${(one.step_seconds / r.step_seconds).toFixed(2)}x |`,
    );
  }
}
