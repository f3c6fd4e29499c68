// Midtraining's data: conversations of a task mixture rendered and concatenated into one token stream,
// cut into [B, T] input/target batches, as nanochat's mid_data_generator does (the mask is ignored, so
// every token is trained on; each batch takes B*T+1 tokens and the next starts after them). Conversation
// g of the stream is mixture[(rank + g*world) mod size]; the stream wraps around at the end of the
// mixture, and `wrapped` tells the loop that one epoch is done.
//
// The state holds no tokens: the first conversation whose tokens are still buffered and how many of its
// tokens were used. Resuming re-renders from there and yields exactly the batches that would have followed.
import type { Task } from "../../tasks/mod.ts";
import { renderConversation } from "../tokenizer/render.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";

export interface ChatStreamState {
  /** Stream index of the conversation the buffer starts in. */
  head: number;
  /** Tokens of that conversation already used. */
  offset: number;
  /** True once the stream has wrapped past the end of the mixture. */
  wrapped: boolean;
}

export interface ChatBatch {
  inputs: Int32Array<ArrayBuffer>;
  targets: Int32Array<ArrayBuffer>;
}

export class ChatTokenStream {
  readonly #task: Task;
  readonly #tok: Tokenizer;
  readonly #B: number;
  readonly #T: number;
  readonly #rank: number;
  readonly #world: number;
  #buffer: number[] = [];
  /** Lengths of the buffered conversations, oldest first (the first one partly used). */
  #lengths: number[] = [];
  #head = 0;
  #offset = 0;
  #next = 0;
  #wrapped = false;

  constructor(o: {
    task: Task;
    tokenizer: Tokenizer;
    B: number;
    T: number;
    rank?: number;
    world?: number;
    resume?: ChatStreamState;
  }) {
    this.#task = o.task;
    this.#tok = o.tokenizer;
    this.#B = o.B;
    this.#T = o.T;
    this.#rank = o.rank ?? 0;
    this.#world = o.world ?? 1;
    if (this.#task.size === 0) throw new RangeError("the conversation stream needs a non-empty task");
    if (o.resume) {
      this.#head = this.#next = o.resume.head;
      this.#wrapped = o.resume.wrapped;
      this.#render();
      this.#buffer.splice(0, o.resume.offset);
      this.#offset = o.resume.offset;
    }
  }

  /** Where the stream is, to resume right after the last batch. */
  get state(): ChatStreamState {
    return { head: this.#head, offset: this.#offset, wrapped: this.#wrapped };
  }

  /** True once the stream has gone past the end of the mixture (one epoch). */
  get wrapped(): boolean {
    return this.#wrapped;
  }

  /** Fraction of the epoch rendered so far (nanochat's approx_progress: cursor / dataset size). */
  get progress(): number {
    if (this.#wrapped) return 1;
    return Math.min(1, (this.#rank + this.#next * this.#world) / this.#task.size);
  }

  #render(): void {
    const size = this.#task.size;
    const c = this.#rank + this.#next * this.#world;
    const { ids } = renderConversation(this.#tok, this.#task.get(c % size));
    for (const t of ids) this.#buffer.push(t);
    this.#lengths.push(ids.length);
    this.#next++;
    if (Math.floor((c + this.#world) / size) > Math.floor(c / size)) this.#wrapped = true;
  }

  /** The next batch: inputs = tokens [0, B*T), targets = tokens [1, B*T], then those B*T+1 tokens are gone. */
  next(): ChatBatch {
    const need = this.#B * this.#T + 1;
    while (this.#buffer.length < need) this.#render();
    const chunk = this.#buffer.splice(0, need);
    const inputs = Int32Array.from(chunk.slice(0, need - 1));
    const targets = Int32Array.from(chunk.slice(1));
    // advance the head past the conversations these tokens used up
    this.#offset += need;
    while (this.#lengths.length > 0 && this.#offset >= this.#lengths[0]) {
      this.#offset -= this.#lengths.shift()!;
      this.#head++;
    }
    return { inputs, targets };
  }
}
