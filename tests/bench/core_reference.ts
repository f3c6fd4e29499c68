// Runs nanochat's own CORE code (core_reference_torch.py) on one of our checkpoints, for the eval bench and
// the cross-check. torch comes from $BENCH_TORCH_PATH, tiktoken from $BENCH_TIKTOKEN_PATH (or the
// interpreter's own packages), nanochat's sources from $NANOCHAT_REPO; without them the result says
// "skipped" and why.
import { fileURLToPath } from "node:url";

/** Per-task outcome of nanochat's evaluator. */
export interface ReferenceTask {
  label: string;
  examples: number;
  seconds: number;
  correct: string;
}

export type ReferenceResult = { skipped: string } | {
  torch: string;
  threads: number;
  tasks: ReferenceTask[];
};

/** What to evaluate. */
export interface ReferenceConfig {
  checkpoint: string;
  meta: string;
  tokenizer_dir: string;
  bundle: string;
  max_per_task: number;
  tasks: string[] | null;
  threads: number;
}

export async function runReferenceCore(cfg: ReferenceConfig): Promise<ReferenceResult> {
  const dir = await Deno.makeTempDir({ prefix: "nanochat-ref-" });
  try {
    const cfgPath = `${dir}/config.json`;
    await Deno.writeTextFile(cfgPath, JSON.stringify(cfg));
    const paths = [Deno.env.get("BENCH_TIKTOKEN_PATH"), Deno.env.get("BENCH_TORCH_PATH")].filter(Boolean);
    const script = fileURLToPath(new URL("./core_reference_torch.py", import.meta.url));
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command("python3", {
        args: [script, cfgPath],
        env: { PYTHONPATH: paths.join(":"), OMP_NUM_THREADS: String(cfg.threads) },
        stdout: "piped",
        stderr: "piped",
      }).output();
    } catch (err) {
      return { skipped: `python3 not runnable (${(err as Error).message})` };
    }
    const text = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
    if (!out.success || !text.startsWith("{")) {
      const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join("\n");
      throw new Error(`nanochat's evaluator failed:\n${err}`);
    }
    return JSON.parse(text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
