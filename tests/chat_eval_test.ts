// Chat evaluation's scoring (src/eval/chat_eval.ts) with models whose answers are known: categorical tasks read
// only the answer letters' logits at the last prompt position, batched with BOS padding; generative tasks
// count pass@k; ChatCORE's arithmetic; task-name parsing.
import { assert, assertEquals, assertThrows } from "@std/assert";
import { chatCore, parseTaskNames, runCategorical, runGenerative } from "../src/eval/chat_eval.ts";
import { UserError } from "../src/common/errors.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { Task, type TaskConversation } from "../tasks/mod.ts";
import { renderForCompletion } from "../src/tokenizer/render.ts";
import { makeTinyTokenizer, sharedPretrainDir, withTempDir } from "./helpers.ts";

const SHARED = sharedPretrainDir();

class Letters extends Task {
  readonly name = "Letters";
  constructor(readonly golds: string[]) {
    super();
  }
  override get evalType() {
    return "categorical" as const;
  }
  numExamples() {
    return this.golds.length;
  }
  example(i: number): TaskConversation {
    return {
      messages: [{ role: "user", content: `question ${"x".repeat(i)}` }, {
        role: "assistant",
        content: this.golds[i],
      }],
      letters: ["A", "B", "C", "D"],
    };
  }
  override evaluate(c: TaskConversation, letter: string) {
    return Promise.resolve(letter === c.messages[1].content);
  }
}

class Counting extends Task {
  readonly name = "Counting";
  override get evalType() {
    return "generative" as const;
  }
  numExamples() {
    return 4;
  }
  example(i: number): TaskConversation {
    return { messages: [{ role: "user", content: `q${i}` }, { role: "assistant", content: String(i) }] };
  }
  override evaluate(c: TaskConversation, completion: string) {
    return Promise.resolve(completion.trim() === c.messages[1].content);
  }
}

async function withTokenizer(fn: (tok: Tokenizer) => Promise<void>) {
  await withTempDir(async (base) => {
    await makeTinyTokenizer(base, SHARED!, 50_000);
    const tok = Tokenizer.load(`${base}/tokenizer`);
    try {
      await fn(tok);
    } finally {
      tok.free();
    }
  });
}

Deno.test({
  name:
    "categorical eval: the argmax over the answer letters at the last prompt position, BOS-padded batches",
  ignore: SHARED === null,
  fn: () =>
    withTokenizer(async (tok) => {
      const V = tok.vocabSize;
      const B = tok.encode("B")[0];
      const C = tok.encode("C")[0];
      const calls: { B: number; T: number; positions: number[] }[] = [];
      const model = {
        maxBatch: 3,
        config: { vocabSize: V, sequenceLen: 256 },
        forwardLogitsAt(inputs: Int32Array, nb: number, T: number, positions: Int32Array) {
          calls.push({ B: nb, T, positions: [...positions] });
          const out = new Float32Array(nb * V);
          for (let b = 0; b < nb; b++) {
            // right padding is BOS; the answer position is each row's <|assistant_start|>
            assertEquals(inputs[b * T + positions[b]], tok.encodeSpecial("<|assistant_start|>"));
            for (let t = positions[b] + 1; t < T; t++) assertEquals(inputs[b * T + t], tok.bosId);
            out[b * V + B] = 2;
            out[b * V + C] = 1;
            out[b * V + 7] = 100; // a huge logit on a non-letter token is ignored
          }
          return Promise.resolve(out);
        },
      };
      const task = new Letters(["B", "B", "C", "A", "B"]);
      const r = await runCategorical(task, tok, model, { batchSize: 8, quiet: true });
      assertEquals([r.passed, r.total, r.accuracy], [3, 5, 0.6]);
      assertEquals(calls.map((c) => c.B), [3, 2]); // batch size capped by the model's maxBatch
      assertEquals(
        calls[0].positions,
        [0, 1, 2].map((i) => renderForCompletion(tok, task.get(i)).length - 1),
      );
      const capped = await runCategorical(task, tok, model, { batchSize: 2, maxProblems: 3, quiet: true });
      assertEquals([capped.passed, capped.total], [2, 3]);
    }),
});

Deno.test({
  name: "generative eval: a problem passes if any sample passes; pass@1..k counts the first k samples",
  ignore: SHARED === null,
  fn: () =>
    withTokenizer(async (tok) => {
      // problem i: samples answer "i" at sample index i (so problem 3 has no right sample among 3)
      const engine = {
        generate(prompt: number[], o: { numSamples?: number }) {
          const i = Number(tok.decode(prompt).match(/q(\d)/)![1]);
          return Promise.resolve(Array.from({ length: o.numSamples ?? 1 }, (_, k) => ({
            tokens: tok.encode(k === i ? String(i) : "wrong"),
            masks: [],
            finish: "stop" as const,
          })));
        },
      };
      const r = await runGenerative(new Counting(), tok, engine, 256, {
        numSamples: 3,
        maxNewTokens: 8,
        temperature: 1,
        topK: 50,
        quiet: true,
      });
      assertEquals([r.passed, r.total], [3, 4]);
      assertEquals(r.passAtK, [0.25, 0.5, 0.75]);
    }),
});

Deno.test("ChatCORE: mean centered accuracy over the five tasks, null unless all five ran", () => {
  const acc = {
    "ARC-Easy": 0.5,
    "ARC-Challenge": 0.25,
    "MMLU": 1,
    "GSM8K": 0.1,
    "HumanEval": 0.05,
    "SpellingBee": 0.9,
  };
  const expected = ((0.5 - 0.25) / 0.75 + 0 + 1 + 0.1 + 0.05) / 5;
  assert(Math.abs(chatCore(acc)! - expected) < 1e-12);
  const { HumanEval: _, ...four } = acc;
  assertEquals(chatCore(four), null);
});

Deno.test("task names: all, | or , separated, unknown names rejected", () => {
  assertEquals(parseTaskNames(undefined).length, 6);
  assertEquals(parseTaskNames("GSM8K|HumanEval"), ["GSM8K", "HumanEval"]);
  assertEquals(parseTaskNames("MMLU,ARC-Easy"), ["MMLU", "ARC-Easy"]);
  assertThrows(() => parseTaskNames("gsm8k"), UserError, "unknown task");
  assertThrows(() => parseTaskNames("|"), UserError, "needs a task name");
});
