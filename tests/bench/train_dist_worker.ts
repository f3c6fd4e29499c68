// One rank of the data-parallel row of `deno task bench:train` (started by tests/bench/train_dist.ts,
// through our launcher for several ranks): d<depth> at T=512, vocab 65536, `B` rows per rank, `threads`
// threads; after a warm-up step, rank 0 prints one JSON line with the best step's wall time and the
// time spent in collectives (NcProfile comm_seconds) and the optimizer in that step.
import { maybeLaunch, readDistEnv } from "../../src/dist/mod.ts";
import { configFromDepth } from "../../src/model/config.ts";
import { joinWorld } from "../../src/model/comm.ts";
import { ComputeContext, GPT } from "../../src/model/mod.ts";

const launched = await maybeLaunch(Deno.args);
if (launched !== null) Deno.exit(launched);

const [depth, B, T, vocab, steps, threads] = Deno.args.slice(0, 6).map(Number);
const env = readDistEnv(Deno.env.toObject());
const ctx = ComputeContext.create({ threads, seed: 1, profile: true });
const comm = await joinWorld(ctx, env);
const model = GPT.create(ctx, configFromDepth(depth, vocab, T), { maxBatch: B });
model.attachComm(comm);
model.initWeights(1);
const offset = env.rank * B * T; // each rank its own rows of the global batch
const inputs = Int32Array.from({ length: B * T }, (_, i) => ((i + offset) * 7919) % vocab);
const targets = Int32Array.from({ length: B * T }, (_, i) => ((i + offset) * 104729 + 1) % vocab);
let best = { step_seconds: Infinity, comm_seconds: 0, optimizer_seconds: 0 };
for (let s = 0; s <= steps; s++) {
  if (comm) await comm.barrier(); // every rank starts the step together
  model.resetProfile();
  const t0 = performance.now();
  await model.backward(inputs, targets, B, T, 1);
  await model.optimStep({ lrUnembed: 0.003, lrEmbed: 0.15, lrMatrix: 0.02, muonMomentum: 0.9 });
  model.zeroGrad();
  const wall = (performance.now() - t0) / 1000;
  const prof = model.profile();
  if (s > 0 && wall < best.step_seconds) {
    best = { step_seconds: wall, comm_seconds: prof.commSeconds, optimizer_seconds: prof.optimizerSeconds };
  }
}
if (env.rank === 0) console.log(JSON.stringify({ world: env.worldSize, threads, B, ...best }));
model.free();
comm?.destroy();
ctx.destroy();
