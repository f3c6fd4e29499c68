// The end-to-end demo of phase A: a real multi-process program. Started by our launcher, by torchrun,
// by a shell loop with torchrun's variables, by srun or by mpirun, each rank reads its environment,
// meets the others in the rendezvous (rank 0 makes the Gloo communicator's id there), joins the
// communicator and all-reduces a vector `--steps` times, checking every element against the answer it
// computes itself. Rank 0 prints one summary line. `--die-rank R` makes rank R kill itself (SIGKILL)
// after the first step, to show what the others and the launcher do then.
import { maybeLaunch, print0, printRank, readDistEnv, rendezvous } from "../../src/dist/mod.ts";
import { DistShim } from "./shim.ts";

const launched = await maybeLaunch(Deno.args);
if (launched !== null) Deno.exit(launched);

const flag = (name: string, dflt: number) => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : dflt;
};
const steps = flag("--steps", 3);
const count = flag("--count", 100_003);
const dieRank = flag("--die-rank", -1);
const timeoutMs = flag("--timeout-ms", 20_000);

const env = readDistEnv(Deno.env.toObject());
const shim = new DistShim();
try {
  const id = await rendezvous(env, { makeId: () => shim.uniqueId(env.masterAddr, timeoutMs), timeoutMs });
  const comm = await shim.create(id, env.rank, env.worldSize, timeoutMs);
  try {
    for (let step = 0; step < steps; step++) {
      if (step === 1 && env.rank === dieRank) Deno.kill(Deno.pid, "SIGKILL");
      const x = new Float32Array(count);
      for (let i = 0; i < count; i++) x[i] = (env.rank + 1) * (step + 1) + (i % 1024);
      await shim.allReduceSum(comm, x);
      const ranksSum = (env.worldSize * (env.worldSize + 1)) / 2;
      for (let i = 0; i < count; i++) {
        const want = ranksSum * (step + 1) + env.worldSize * (i % 1024);
        if (x[i] !== want) throw new Error(`step ${step}: element ${i} is ${x[i]}, expected ${want}`);
      }
    }
  } finally {
    shim.destroy(comm);
  }
  print0(
    env,
    `allreduce ok: ${env.worldSize} ranks on ${env.numNodes} node(s) via ${env.launcher}, ${steps} steps of ${count} floats`,
  );
} catch (err) {
  printRank(env, `allreduce demo failed: ${(err as Error).message}`);
  Deno.exit(1);
} finally {
  shim.close();
}
