// One completion on one engine, with OpenAI-style stop sequences and incremental text emission.
import type { ChatEngine, FinishReason, GenerateOptions } from "../engine/types.ts";

export interface CompletionResult {
  /** The generated text, cut before the first stop sequence. */
  text: string;
  /** Tokens the engine produced (including any that formed a trimmed stop sequence). */
  completionTokens: number;
  finish: FinishReason;
}

/**
 * Streams `prompt`'s completion, calling `emit` with each new piece of text.
 *
 * With `stop` sequences, generation ends as soon as the text contains one; the text is cut before it.
 * Text that could still turn into a stop sequence is held back until it cannot, so emitted pieces never
 * contain (part of) a stop sequence and their concatenation always equals the final `text`.
 */
export async function runCompletion(
  engine: ChatEngine,
  prompt: number[],
  options: GenerateOptions,
  stop: readonly string[] = [],
  emit: (text: string) => void = () => {},
): Promise<CompletionResult> {
  const stops = stop.filter((s) => s.length > 0);
  const local = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, local.signal]) : local.signal;
  const it = engine.stream(prompt, { ...options, signal });
  let text = "";
  let emitted = 0;
  let completionTokens = 0;
  let finish: FinishReason | undefined;
  try {
    while (finish === undefined) {
      const step = await it.next();
      if (step.done) {
        finish = step.value;
        break;
      }
      completionTokens++;
      text += step.value.text;
      if (stops.length === 0) {
        if (text.length > emitted) emit(text.slice(emitted));
        emitted = text.length;
        continue;
      }
      const hit = firstStop(text, stops);
      if (hit >= 0) {
        text = text.slice(0, hit);
        finish = "stop";
        local.abort();
        break;
      }
      const safe = text.length - heldBack(text, stops);
      if (safe > emitted) {
        emit(text.slice(emitted, safe));
        emitted = safe;
      }
    }
  } finally {
    // closes the engine's generator when we stopped early (stop sequence, error)
    if (finish === undefined || local.signal.aborted) await it.return("aborted");
  }
  if (text.length > emitted) emit(text.slice(emitted));
  return { text, completionTokens, finish };
}

/** Index of the earliest stop sequence in `text`, or -1. */
function firstStop(text: string, stops: readonly string[]): number {
  let best = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

/** Length of the longest suffix of `text` that is a proper prefix of some stop sequence. */
function heldBack(text: string, stops: readonly string[]): number {
  let longest = 0;
  for (const s of stops) {
    for (let k = Math.min(s.length - 1, text.length); k > longest; k--) {
      if (text.endsWith(s.slice(0, k))) {
        longest = k;
        break;
      }
    }
  }
  return longest;
}
