// A data-parallel training program over the real compute library, for tests/train_dist_test.ts (cpu)
// and tests/train_dist_cuda_emu_test.ts (--device cuda on the emulated cuda build): every
// rank joins the run its environment describes (our launcher, torchrun's variables, ...), builds the same
// tiny GPT, and runs `--steps` optimizer steps in which rank r backpropagates rows [r*R, (r+1)*R) of a
// seeded global batch of `--rows` rows (R = rows / world; the first steps clip on the global norm).
// Rank 0 writes the mean loss of every step, the final parameters and its optimizer-state table to
// `--out` as JSON, so a 1-rank
// run and an N-rank run of the same global batch can be compared.
import { maybeLaunch, readDistEnv } from "../../src/dist/mod.ts";
import { joinWorld } from "../../src/model/comm.ts";
import { ComputeContext } from "../../src/model/context.ts";
import { GPT } from "../../src/model/gpt.ts";

const launched = await maybeLaunch(Deno.args);
if (launched !== null) Deno.exit(launched);

const flag = (name: string, dflt: string) => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : dflt;
};
const steps = Number(flag("--steps", "4"));
const rows = Number(flag("--rows", "4"));
const out = flag("--out", "");
// cpu (default) or cuda: the emulated cuda build serves cuda when NANOCHAT_COMPUTE_LIB points at it
const device = flag("--device", "cpu") as "cpu" | "cuda";
const T = 16;
const config = { sequenceLen: T, vocabSize: 256, nLayer: 2, nHead: 2, nKvHead: 2, nEmbd: 64 };

const env = readDistEnv(Deno.env.toObject());
const R = rows / env.worldSize;
if (!Number.isInteger(R)) throw new Error(`--rows ${rows} must divide by the world size ${env.worldSize}`);
const ctx = ComputeContext.create({ device, threads: 1 });
const comm = await joinWorld(ctx, env);
const model = GPT.create(ctx, config, { maxBatch: R });
model.attachComm(comm);
model.initWeights(1234);

// a fixed pseudo-random global batch per step (xorshift), the same on every rank
function batch(step: number): Int32Array<ArrayBuffer> {
  const v = new Int32Array(rows * (T + 1));
  let z = (step + 1) * 2654435761 >>> 0;
  for (let i = 0; i < v.length; i++) {
    z ^= z << 13;
    z >>>= 0;
    z ^= z >>> 17;
    z ^= z << 5;
    z >>>= 0;
    v[i] = z % config.vocabSize;
  }
  return v;
}

const losses: number[] = [];
for (let step = 0; step < steps; step++) {
  const all = batch(step);
  const inputs = new Int32Array(R * T), targets = new Int32Array(R * T);
  for (let r = 0; r < R; r++) {
    const row = all.subarray((env.rank * R + r) * (T + 1), (env.rank * R + r + 1) * (T + 1));
    inputs.set(row.subarray(0, T), r * T);
    targets.set(row.subarray(1), r * T);
  }
  model.zeroGrad();
  await model.backward(inputs, targets, R, T, 1);
  const loss = Float64Array.of(model.lossStats().lastLoss);
  if (comm) await comm.allReduceSum(loss);
  losses.push(loss[0] / env.worldSize);
  console.log(`rank ${env.rank} step ${step}`); // progress, for tests that act mid-run
  const gradScale = step < 2 ? Math.min(1, 0.5 / (model.gradNorm() + 1e-6)) : 1;
  await model.optimStep({ lrUnembed: 0.004, lrEmbed: 0.2, lrMatrix: 0.02, muonMomentum: 0.95, gradScale });
}
if (env.rank === 0 && out) {
  const params = model.params().map((p) => Array.from(model.readParam(p.index)));
  // rank 0's optimizer-state table: which slice of each tensor it holds
  const states = model.optimStates().map(({ name, offset, numel, fullNumel }) => ({
    name,
    offset,
    numel,
    fullNumel,
  }));
  await Deno.writeTextFile(out, JSON.stringify({ worldSize: env.worldSize, losses, params, states }));
}
model.free();
comm?.destroy();
ctx.destroy();
