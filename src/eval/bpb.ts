// Bits per byte: the tokenizer-independent loss nanochat reports. Sum of per-token losses (nats) over
// targets whose token has bytes (specials count 0 bytes and are left out), divided by ln 2 times the
// sum of those targets' byte lengths.
import type { GPT } from "../model/gpt.ts";

/** One packed batch: inputs and targets, each [B*T]. */
export interface TokenBatch {
  inputs: Int32Array;
  targets: Int32Array;
}

/** Evaluates `steps` batches from `batches` and returns bits per byte. */
export async function evaluateBpb(
  model: GPT,
  batches: AsyncIterator<TokenBatch>,
  steps: number,
  B: number,
  T: number,
  tokenBytes: Uint32Array,
): Promise<number> {
  let nats = 0;
  let bytes = 0;
  const losses = new Float32Array(B * T);
  for (let s = 0; s < steps; s++) {
    const next = await batches.next();
    if (next.done) break;
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
  return bytes === 0 ? Number.NaN : nats / (Math.LN2 * bytes);
}
