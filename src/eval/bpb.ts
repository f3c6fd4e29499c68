// Bits per byte: the tokenizer-independent loss nanochat reports. Sum of per-token losses (nats) over
// targets whose token has bytes (specials count 0 bytes and are left out), divided by ln 2 times the
// sum of those targets' byte lengths.
// With a communicator every rank reads the same stream of batches and forwards batches rank, rank + W,
// ...; the sums are added over the ranks before the division, so every rank returns the bpb of all
// `steps` batches, the number one rank would get (and a validation split of one row group serves any
// number of ranks; reading and packing are cheap next to the forward passes they split).
import type { Communicator } from "../model/comm.ts";
import type { GPT } from "../model/gpt.ts";

/** One packed batch: inputs and targets, each [B*T]. */
export interface TokenBatch {
  inputs: Int32Array;
  targets: Int32Array;
}

/** Evaluates the first `steps` batches of `batches` (split over the ranks of `comm`) and returns bits per byte. */
export async function evaluateBpb(
  model: GPT,
  batches: AsyncIterator<TokenBatch>,
  steps: number,
  B: number,
  T: number,
  tokenBytes: Uint32Array,
  comm: Communicator | null = null,
): Promise<number> {
  let nats = 0;
  let bytes = 0;
  const losses = new Float32Array(B * T);
  const W = comm?.worldSize ?? 1, rank = comm?.rank ?? 0;
  for (let s = 0; s < steps; s++) {
    const next = await batches.next();
    if (next.done) break;
    if (s % W !== rank) continue;
    const { inputs, targets } = next.value;
    await model.forwardLosses(
      inputs as Int32Array<ArrayBuffer>,
      targets as Int32Array<ArrayBuffer>,
      B,
      T,
      losses,
    );
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i];
      if (t < 0) continue;
      const b = tokenBytes[t];
      if (b === 0) continue;
      nats += losses[i];
      bytes += b;
    }
  }
  if (comm) {
    const sums = Float64Array.of(nats, bytes);
    await comm.allReduceSum(sums);
    [nats, bytes] = sums;
  }
  return bytes === 0 ? Number.NaN : nats / (Math.LN2 * bytes);
}
