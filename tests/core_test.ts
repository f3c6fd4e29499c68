// CORE (src/eval/core.ts, core_bundle.ts) on hand-built bundles with a scorer whose answers are known:
// prompt rendering, prefix/suffix spans, mean (not summed) losses, the LM argmax rule, cropping to the
// context, few-shot draws (CPython's, never the item), packed batches, centered accuracy and the mean;
// and missing or corrupt bundles.
import { assert, assertEquals, assertRejects } from "@std/assert";
import { join } from "node:path";
import {
  centeredAccuracy,
  commonLength,
  type CoreTokenizer,
  cropToContext,
  evaluateCore,
  evaluateCoreTask,
  fewshotIndices,
  pyStrip,
  renderPrompts,
  type SequenceScorer,
  spansFor,
} from "../src/eval/core.ts";
import { openBundle, parseCsv } from "../src/eval/core_bundle.ts";
import { gptScorer } from "../src/eval/core.ts";
import { configFromDepth } from "../src/model/config.ts";
import { ComputeContext, GPT } from "../src/model/mod.ts";
import { UserError } from "../src/common/errors.ts";
import { withTempDir } from "./helpers.ts";

/** Token = char code + 1; BOS = 0. */
const charTok: CoreTokenizer = {
  bosId: 0,
  encode: (texts, { prepend }) => texts.map((t) => [prepend, ...[...t].map((c) => c.codePointAt(0)! + 1)]),
};

/**
 * A model whose answers are known: the loss of predicting `target` after `input` is
 * (input + target) / 1000, and the argmax after token x is x + 1 (the next character).
 */
function fakeScorer(maxRows: number, maxLen: number) {
  const seen: { B: number; T: number }[] = [];
  const scorer: SequenceScorer = {
    maxRows,
    maxLen,
    score(inputs, targets, B, T) {
      seen.push({ B, T });
      assert(B <= maxRows && T <= maxLen, `batch ${B}x${T} exceeds ${maxRows}x${maxLen}`);
      const losses = new Float32Array(B * T);
      const argmax = new Int32Array(B * T);
      for (let i = 0; i < B * T; i++) {
        if (targets[i] >= 0) losses[i] = (inputs[i] + targets[i]) / 1000;
        argmax[i] = inputs[i] + 1;
      }
      return Promise.resolve({ losses, argmax });
    },
  };
  return { scorer, seen };
}

const spec = (
  taskType: "multiple_choice" | "schema" | "language_modeling",
  randomBaseline = 0,
  numFewshot = 0,
) => ({
  label: `t_${taskType}`,
  taskType,
  numFewshot,
  continuationDelimiter: " ",
  randomBaseline,
});

Deno.test("CORE prompts render as nanochat's Jinja templates (few-shots, delimiter, LM strip)", () => {
  const shots = [{ query: "Q1", choices: ["x", "y"], gold: 1 }, { query: "Q2", choices: ["z"], gold: 0 }];
  assertEquals(renderPrompts("multiple_choice", { query: "Q", choices: ["a", "b"], gold: 0 }, shots, ": "), [
    "Q1: y\n\nQ2: z\n\nQ: a",
    "Q1: y\n\nQ2: z\n\nQ: b",
  ]);
  assertEquals(
    renderPrompts("schema", { context_options: ["c1", "c2"], continuation: "end", gold: 0 }, [{
      context_options: ["p", "q"],
      continuation: "k",
      gold: 1,
    }], " "),
    ["q k\n\nc1 end", "q k\n\nc2 end"],
  );
  assertEquals(
    renderPrompts("language_modeling", { context: "  ctx \n", continuation: "cont" }, [{
      context: " a ",
      continuation: "b",
    }], "\nAnswer: "),
    ["a\nAnswer: b\n\nctx\nAnswer:", "a\nAnswer: b\n\nctx\nAnswer: cont"],
  );
  // Python's whitespace set: \x1c-\x1f count, U+FEFF does not
  assertEquals(pyStrip("\x1c a \ufeff"), "a \ufeff");
});

Deno.test("CORE spans: MC common prefix, schema common suffix, LM prefix check; crop keeps the continuation", () => {
  const mc = spansFor("multiple_choice", charTok.encode(["Q b", "Q aa"], { prepend: 0 }));
  assertEquals([mc.starts, mc.ends], [[3, 3], [4, 5]]);
  const sc = spansFor("schema", charTok.encode(["xa z", "xbb z"], { prepend: 0 }));
  assertEquals([sc.starts, sc.ends], [[3, 4], [5, 6]]);
  assertEquals(commonLength([[1, 2, 3], [1, 2]], "left"), 2);
  const lm = spansFor("language_modeling", charTok.encode(["ab", "abcd"], { prepend: 0 }));
  assertEquals([lm.tokens.length, lm.starts, lm.ends], [1, [3], [5]]);
  let threw = false;
  try {
    spansFor("language_modeling", [[0, 1, 2], [0, 1, 3, 4]]);
  } catch (err) {
    threw = err instanceof UserError;
  }
  assert(threw, "a non-prefix LM prompt must be an error");
  const cropped = cropToContext({
    tokens: [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [0, 1, 2]],
    starts: [7, 1],
    ends: [10, 3],
  }, 6);
  assertEquals(cropped.tokens, [[4, 5, 6, 7, 8, 9], [0, 1, 2]]);
  assertEquals([cropped.starts, cropped.ends], [[3, 1], [6, 3]]);
  // a continuation longer than the context keeps its start at 1 (token 0 predicts it)
  assertEquals(cropToContext({ tokens: [[0, 1, 2, 3, 4]], starts: [1], ends: [5] }, 3).starts, [1]);
});

Deno.test("CORE few-shot draws: CPython's Random(1234 + idx).sample, deterministic, never the item", () => {
  assertEquals(fewshotIndices(500, 7, 10), [309, 254, 392, 109, 145, 130, 478, 100, 365, 252]);
  assertEquals(fewshotIndices(12, 3, 10), [2, 7, 5, 4, 1, 11, 9, 6, 8, 10]);
  for (let idx = 0; idx < 40; idx++) {
    const s = fewshotIndices(40, idx, 10);
    assert(!s.includes(idx) && new Set(s).size === 10);
    assertEquals(fewshotIndices(40, idx, 10), s);
  }
  assertEquals(fewshotIndices(5, 0, 0), []);
});

Deno.test("CORE scoring with known answers: mean loss picks MC/schema options, LM needs every argmax", async () => {
  const { scorer, seen } = fakeScorer(4, 64);
  // MC: mean loss, not sum: "!!!!" (mean 0.06775) beats "b" (0.132) although its summed loss is larger
  const mc = [
    { query: "Q", choices: ["b", "!!!!"], gold: 1 },
    { query: "Q", choices: ["c", "b", "d"], gold: 1 },
    { query: "Q", choices: ["a", "b"], gold: 1 }, // wrong: "a" wins
  ];
  const r1 = await evaluateCoreTask(scorer, charTok, mc, spec("multiple_choice", 25));
  assertEquals(r1.accuracy, 2 / 3);
  assertEquals(r1.centered, centeredAccuracy(2 / 3, 25));
  assert(seen.some((b) => b.B > 1), "sequences were not batched");
  // schema: the shared suffix " z" is scored after each context; a lower last context char wins
  const sc = [
    { context_options: ["xa", "xbb"], continuation: "z", gold: 0 },
    { context_options: ["xc", "xb"], continuation: "z", gold: 1 },
  ];
  assertEquals((await evaluateCoreTask(scorer, charTok, sc, spec("schema", 50))).accuracy, 1);
  // LM (delimiter ""): "ab" + "cd" follows the next-character argmax, "ce" does not
  const lm = [{ context: "ab", continuation: "cd" }, { context: "ab", continuation: "ce" }];
  const r3 = await evaluateCoreTask(scorer, charTok, lm, {
    ...spec("language_modeling"),
    continuationDelimiter: "",
  });
  assertEquals(r3.accuracy, 0.5);
  assertEquals(r3.correct.reduce((a, b) => a + b, 0), 1);
});

Deno.test("CORE crops long prompts to the model's context and still scores the continuation", async () => {
  const { scorer, seen } = fakeScorer(2, 8);
  const long = "W".repeat(30);
  const rows = [{ query: long, choices: ["b", "a"], gold: 1 }, { query: long, choices: ["a", "b"], gold: 0 }];
  const r = await evaluateCoreTask(scorer, charTok, rows, spec("multiple_choice", 50));
  assertEquals(r.accuracy, 1);
  assert(seen.every((b) => b.T <= 8));
});

Deno.test("CORE: Random(1337) shuffle then crop, few-shots from the cropped rows, the mean over tasks", () =>
  withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "eval_data"));
    const mcRows = Array.from(
      { length: 20 },
      (_, i) => ({ query: `q${i}`, choices: ["b", "a"], gold: i % 2 }),
    );
    const lmRows = Array.from(
      { length: 6 },
      (_, i) => ({ context: "ab", continuation: i < 3 ? "cd" : "zz" }),
    );
    await Deno.writeTextFile(
      join(dir, "eval_data", "mc.jsonl"),
      mcRows.map((r) => JSON.stringify(r)).join("\n") + "\n",
    );
    await Deno.writeTextFile(
      join(dir, "eval_data", "lm.jsonl"),
      lmRows.map((r) => JSON.stringify(r)).join("\n") + "\n",
    );
    await Deno.writeTextFile(
      join(dir, "core.yaml"),
      `icl_tasks:\n- label: mc\n  dataset_uri: mc.jsonl\n  num_fewshot: [3]\n  icl_task_type: multiple_choice\n` +
        `- label: lm\n  dataset_uri: lm.jsonl\n  num_fewshot: [0]\n  icl_task_type: language_modeling\n  continuation_delimiter: ""\n`,
    );
    await Deno.writeTextFile(
      join(dir, "eval_meta_data.csv"),
      `Eval Task,Random baseline,Description\nmc,50,"a, quoted ""one"""\nlm,0,x\n`,
    );
    const bundle = await openBundle(dir);
    assertEquals(
      bundle.tasks.map((t) => [t.label, t.numFewshot, t.continuationDelimiter, t.randomBaseline]),
      [
        ["mc", 3, " ", 50],
        ["lm", 0, "", 0],
      ],
    );
    const { scorer } = fakeScorer(8, 256);
    const res = await evaluateCore(scorer, charTok, bundle, { quiet: true });
    // every MC row picks option 1 ("a"), right for odd i: 10 of 20; LM: 3 of 6
    assertEquals(res.tasks.map((t) => t.accuracy), [0.5, 0.5]);
    assertEquals(res.core, (centeredAccuracy(0.5, 50) + centeredAccuracy(0.5, 0)) / 2);
    const capped = await evaluateCore(scorer, charTok, bundle, { quiet: true, maxPerTask: 4, only: ["mc"] });
    assertEquals(capped.tasks[0].examples, 4);
    // the first 4 after Random(1337).shuffle of 20 rows: their gold parities decide the accuracy
    const order = [13, 1, 2, 9]; // CPython: random.Random(1337).shuffle(list(range(20)))[:4]
    assertEquals(capped.tasks[0].accuracy, order.filter((i) => i % 2 === 1).length / 4);
  }));

Deno.test("CORE bundle errors: missing files, bad yaml, no baseline, a missing data file", () =>
  withTempDir(async (dir) => {
    await assertRejects(() => openBundle(dir), UserError, "core.yaml or eval_meta_data.csv is missing");
    await Deno.writeTextFile(join(dir, "eval_meta_data.csv"), "Eval Task,Random baseline\nmc,25\n");
    await Deno.writeTextFile(join(dir, "core.yaml"), "icl_tasks: [unclosed");
    await assertRejects(() => openBundle(dir), UserError, "core.yaml does not parse");
    await Deno.writeTextFile(
      join(dir, "core.yaml"),
      "icl_tasks:\n- label: other\n  dataset_uri: x.jsonl\n  num_fewshot: [0]\n  icl_task_type: schema\n",
    );
    await assertRejects(() => openBundle(dir), UserError, 'no "Random baseline" for other');
    await Deno.writeTextFile(
      join(dir, "core.yaml"),
      "icl_tasks:\n- label: mc\n  dataset_uri: x.jsonl\n  num_fewshot: [0]\n  icl_task_type: schema\n",
    );
    await assertRejects(() => openBundle(dir), UserError, "eval_data/x.jsonl is missing");
    await Deno.writeTextFile(
      join(dir, "core.yaml"),
      "icl_tasks:\n- label: mc\n  dataset_uri: x.jsonl\n  num_fewshot: [0]\n  icl_task_type: essay\n",
    );
    await assertRejects(() => openBundle(dir), UserError, "icl_task_type");
    assertEquals(parseCsv('a,"b,c"\r\n"d""e",f\n'), [["a", "b,c"], ['d"e', "f"]]);
  }));

Deno.test("CORE with a real model: shared-prefix scoring (KV cache) gives the packed forward's losses and answers", async () => {
  const ctx = ComputeContext.create({ threads: 1 });
  const model = GPT.create(ctx, configFromDepth(2, 512, 64), { maxBatch: 4 });
  try {
    model.initWeights(7);
    const scorer = gptScorer(model);
    const prefix = [0, 5, 9, 200, 17, 33];
    const conts = [[4, 8, 15], [16], [23, 42, 99, 7], []];
    const shared = await scorer.scoreContinuations!(prefix, conts);
    for (const [i, c] of conts.entries()) {
      const seq = [...prefix, ...c];
      const targets = Int32Array.from(
        seq,
        (_, p) => (p >= prefix.length - 1 && p + 1 < seq.length ? seq[p + 1] : -1),
      );
      const { losses } = await scorer.score(Int32Array.from(seq), targets, 1, seq.length);
      assertEquals(shared[i].length, c.length);
      for (let k = 0; k < c.length; k++) {
        const full = losses[prefix.length - 1 + k];
        assert(
          Math.abs(shared[i][k] - full) < 1e-4,
          `continuation ${i} token ${k}: ${shared[i][k]} vs ${full}`,
        );
      }
    }
    const rows = Array.from(
      { length: 12 },
      (_, i) => ({ query: `q${i} what?`, choices: ["ab", "b c", "cd e", "z"], gold: i % 4 }),
    );
    const a = await evaluateCoreTask(scorer, charTok, rows, spec("multiple_choice", 25, 2));
    const b = await evaluateCoreTask(scorer, charTok, rows, spec("multiple_choice", 25, 2), {
      sharePrefix: false,
    });
    assertEquals(Array.from(a.correct), Array.from(b.correct));
  } finally {
    model.free();
    ctx.destroy();
  }
});
