// SFT's data, as nanochat A's sft_data_generator: one conversation per row, B consecutive examples per
// micro-batch, each row padded to the batch's longest conversation with <|assistant_end|>; targets are
// the next tokens, -1 where the mask is 0 (what the model is given, not what it writes) and on padding.
// Conversations are cropped to T+1 tokens so no row is longer than the model's context. Example g of the
// stream is task[(rank + g*world) mod size], epoch after epoch; the state is g, so a resume is exact.
import type { Task } from "../../tasks/mod.ts";
import { renderConversation } from "../tokenizer/render.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";

export interface SftBatch {
  inputs: Int32Array<ArrayBuffer>;
  targets: Int32Array<ArrayBuffer>;
  B: number;
  T: number;
  /** Targets that are not -1 (the supervised tokens). */
  validTokens: number;
}

/** Pads rendered conversations into one batch (exported for tests). */
export function collate(rows: { ids: number[]; mask: number[] }[], padId: number): SftBatch {
  const B = rows.length;
  const T = Math.max(1, ...rows.map((r) => r.ids.length - 1));
  const inputs = new Int32Array(B * T).fill(padId);
  const targets = new Int32Array(B * T).fill(-1);
  let validTokens = 0;
  rows.forEach(({ ids, mask }, b) => {
    for (let t = 0; t + 1 < ids.length; t++) {
      inputs[b * T + t] = ids[t];
      if (mask[t + 1] !== 0) {
        targets[b * T + t] = ids[t + 1];
        validTokens++;
      }
    }
  });
  return { inputs, targets, B, T, validTokens };
}

export class SftBatches {
  #next: number;

  constructor(
    readonly task: Task,
    readonly tokenizer: Tokenizer,
    readonly B: number,
    /** Longest row (the model's context). */
    readonly maxT: number,
    start = 0,
    readonly rank = 0,
    readonly world = 1,
  ) {
    if (task.size === 0) throw new RangeError("SFT batches need a non-empty task");
    this.#next = start;
  }

  /** Examples consumed so far (the resume state). */
  get state(): number {
    return this.#next;
  }

  next(): SftBatch {
    const rows = [];
    for (let b = 0; b < this.B; b++) {
      const i = (this.rank + this.#next * this.world) % this.task.size;
      rows.push(renderConversation(this.tokenizer, this.task.get(i), this.maxT + 1));
      this.#next++;
    }
    return collate(rows, this.tokenizer.encodeSpecial("<|assistant_end|>"));
  }
}
