// One optimizer step's hyperparameters as the caller gives them (schedules live in the training loop),
// with nanochat A's AdamW defaults, checked and packed into NcOptimStep.
import { packOptimStep } from "../../ffi/compute_structs.ts";
import { UserError } from "../common/errors.ts";

/** One optimizer step's hyperparameters; the schedules live in the caller. */
export interface OptimStepOptions {
  /** AdamW lr for lm_head. */
  lrUnembed: number;
  /** AdamW lr for transformer.wte. */
  lrEmbed: number;
  /** Muon lr for the transformer.h matrices. */
  lrMatrix: number;
  /** Muon momentum (0.85 -> 0.95 warmup in nanochat). */
  muonMomentum: number;
  /** AdamW beta1, default 0.8. */
  beta1?: number;
  /** AdamW beta2, default 0.95. */
  beta2?: number;
  /** AdamW eps, default 1e-10. */
  eps?: number;
  /** AdamW decoupled weight decay, default 0. */
  weightDecay?: number;
  /** Every gradient is multiplied by this first (clipping), default 1. */
  gradScale?: number;
}

/** NcOptimStep for `o`, or a UserError naming the first value that is not a finite number. */
export function packStep(o: OptimStepOptions): Uint8Array<ArrayBuffer> {
  const v = {
    lrEmbed: o.lrEmbed,
    lrUnembed: o.lrUnembed,
    lrMatrix: o.lrMatrix,
    muonMomentum: o.muonMomentum,
    beta1: o.beta1 ?? 0.8,
    beta2: o.beta2 ?? 0.95,
    eps: o.eps ?? 1e-10,
    weightDecay: o.weightDecay ?? 0,
    gradScale: o.gradScale ?? 1,
  };
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== "number" || !Number.isFinite(x)) {
      throw new UserError(`optimizer step: ${k} must be a finite number, got ${x}`);
    }
  }
  return packOptimStep({
    lrEmbedding: v.lrEmbed,
    lrUnembedding: v.lrUnembed,
    lrMatrix: v.lrMatrix,
    muonMomentum: v.muonMomentum,
    adamBeta1: v.beta1,
    adamBeta2: v.beta2,
    adamEps: v.eps,
    weightDecay: v.weightDecay,
    gradScale: v.gradScale,
  });
}
