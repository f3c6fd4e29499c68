// The task library (tasks/): the Python/NumPy generators against values CPython 3.11 and NumPy 2 print,
// every dataset's examples against nanochat's own task code run on the same offline rows (hashes),
// slicing, mixtures, GSM8K answer handling, multiple-choice rendering and bad inputs.
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  ARC,
  CustomJSON,
  extractHashAnswer,
  extractImports,
  extractProgram,
  GSM8K,
  gsm8kParts,
  HumanEval,
  MMLU,
  numpyPermutation,
  PyRandom,
  renderMc,
  SimpleSpelling,
  SmolTalk,
  SpellingBee,
  Task,
  type TaskConversation,
  TaskMixture,
  TaskSequence,
} from "../tasks/mod.ts";
import { UserError } from "../src/common/errors.ts";
import { sharedChatDir, withTempDir } from "./helpers.ts";

const CHAT = sharedChatDir();

Deno.test("PyRandom matches CPython: seeds (0, negative, > 32 bits), random, randbelow, choice", () => {
  const r = new PyRandom(42);
  assertEquals([0, 0, 0, 0, 0].map(() => r.getrandbits(32)), [
    2746317213,
    478163327,
    107420369,
    3184935163,
    1181241943,
  ]);
  const f = new PyRandom(1337);
  assertEquals([0, 0, 0].map(() => f.random()), [
    0.6177528569514706,
    0.5332655736050008,
    0.36584835924937553,
  ]);
  const neg = new PyRandom(-5); // CPython seeds with |n|
  assertEquals([0, 0, 0, 0, 0].map(() => neg.randbelow(1000)), [637, 261, 759, 367, 814]);
  const big = new PyRandom(2n ** 40n + 7n);
  assertEquals([0, 0, 0].map(() => big.getrandbits(32)), [2635837658, 3209733218, 3500038837]);
  const zero = new PyRandom(0);
  assertEquals([0, 0, 0].map(() => zero.getrandbits(32)), [3626764237, 1654615998, 3255389356]);
  const c = new PyRandom(9);
  assertEquals([0, 0, 0, 0, 0].map(() => c.choice("strawberry")).join(""), "rybwr");
});

Deno.test("PyRandom shuffle and sample match CPython (pool and selected-set algorithms)", () => {
  const x = Array.from({ length: 20 }, (_, i) => i);
  assertEquals(new PyRandom(1337).shuffle(x), [
    13,
    1,
    2,
    9,
    7,
    8,
    0,
    18,
    3,
    14,
    4,
    16,
    12,
    15,
    6,
    10,
    5,
    11,
    17,
    19,
  ]);
  // CORE's few-shot draw: Random(1234 + idx).sample([i for i in range(n) if i != idx], k)
  const others = (n: number, idx: number) => Array.from({ length: n }, (_, i) => i).filter((i) => i !== idx);
  assertEquals(new PyRandom(1234 + 3).sample(others(12, 3), 10), [2, 7, 5, 4, 1, 11, 9, 6, 8, 10]);
  assertEquals(new PyRandom(1234 + 7).sample(others(500, 7), 10), [
    309,
    254,
    392,
    109,
    145,
    130,
    478,
    100,
    365,
    252,
  ]);
  assertEquals(new PyRandom(1234).sample(others(230, 0), 3), [200, 113, 30]);
  assertThrows(() => new PyRandom(1).sample([1, 2], 3), RangeError);
});

Deno.test("numpyPermutation matches numpy.random.default_rng(42).permutation(n)", () => {
  assertEquals(Array.from(numpyPermutation(10, 42)), [5, 6, 0, 7, 3, 2, 4, 9, 1, 8]);
  assertEquals(Array.from(numpyPermutation(1000, 42).slice(0, 10)), [
    978,
    933,
    859,
    916,
    127,
    608,
    856,
    260,
    147,
    810,
  ]);
  assertEquals(Array.from(numpyPermutation(8192, 42).slice(0, 5)), [4215, 742, 3822, 3714, 1604]);
  const p = numpyPermutation(5000, 42);
  assertEquals(new Set(p).size, 5000);
});

class Toy extends Task {
  constructor(readonly n: number, readonly name: string, slice = {}) {
    super(slice);
  }
  numExamples() {
    return this.n;
  }
  example(i: number): TaskConversation {
    return { messages: [{ role: "user", content: `${this.name}${i}` }] };
  }
}
const tag = (c: TaskConversation) => c.messages[0].content as string;

Deno.test("Task slicing: start/stop/step with ceil-div sizes, out-of-range access and bad slices", () => {
  assertEquals(new Toy(10, "a", { start: 5, stop: 10 }).size, 5);
  const stepped = new Toy(10, "a", { stop: 10, step: 3 });
  assertEquals(Array.from({ length: stepped.size }, (_, i) => tag(stepped.get(i))), ["a0", "a3", "a6", "a9"]);
  assertEquals(new Toy(10, "a", { start: 4, step: 4 }).size, 2);
  assertThrows(() => stepped.get(4), RangeError);
  assertThrows(() => new Toy(3, "a", { start: 2, stop: 1 }), RangeError);
  assertThrows(() => new Toy(3, "a", { step: 0 }), RangeError);
});

Deno.test("TaskMixture: nanochat's Random(42) order, deterministic, complete, oversampling; TaskSequence", () => {
  const mix = () => new TaskMixture([new Toy(3, "a"), new Toy(5, "b"), new Toy(4, "c")]);
  const order = Array.from({ length: 12 }, (_, i) => tag(mix().get(i)));
  // printed by nanochat's TaskMixture over the same three toy tasks
  assertEquals(order.join(" "), "b4 b2 a2 c0 c1 b3 c3 b0 b1 a0 a1 c2");
  assertEquals(Array.from({ length: 12 }, (_, i) => tag(mix().get(i))), order);
  assertEquals(new TaskMixture([new Toy(3, "a"), new Toy(3, "a")]).size, 6);
  const seq = new TaskSequence([new Toy(2, "a"), new Toy(2, "b")], { start: 1 });
  assertEquals([0, 1, 2].map((i) => tag(seq.get(i))), ["a1", "b0", "b1"]);
});

Deno.test("renderMc binds each letter right after '=' and GSM8K parts/answers follow nanochat", () => {
  const q = renderMc("What is 1+1?", ["A", "B"], ["1", "2"]);
  assertEquals(
    q,
    "Multiple Choice question: What is 1+1?\n- 1=A\n- 2=B\n\nRespond only with the letter of the correct answer.",
  );
  assertEquals(gsm8kParts("Half is 4/2 = <<4/2=2>>2 cups.\n#### 2"), [
    { type: "text", text: "Half is 4/2 = " },
    { type: "python", text: "4/2" },
    { type: "python_output", text: "2" },
    { type: "text", text: "2 cups.\n#### 2" },
  ]);
  // the result is what follows the LAST "="; no "=" gives an empty output
  assertEquals(gsm8kParts("<<a=b=3>><<7>>").slice(1), [
    { type: "python", text: "a=b" },
    { type: "python_output", text: "3" },
    { type: "text", text: "" },
    { type: "python", text: "7" },
    { type: "python_output", text: "" },
    { type: "text", text: "" },
  ]);
  assertEquals(extractHashAnswer("so #### 1,234"), "1234");
  assertEquals(extractHashAnswer("#### -7.50 dollars"), "-7.50");
  assertEquals(extractHashAnswer("#### 3 then #### 4"), "3");
  assertEquals(extractHashAnswer("the answer is 5"), null);
  assertEquals(extractHashAnswer("####5"), null);
});

Deno.test("HumanEval program extraction: imports, the first code block, else the stripped text", () => {
  assertEquals(
    extractImports("from typing import List\n# note\nimport math\n\ndef f(x):\n    import os\n"),
    "from typing import List\nimport math",
  );
  assertEquals(
    extractProgram("Sure:\n```python\ndef f():\n    return 1\n```\nand\n```\nx\n```"),
    "def f():\n    return 1",
  );
  assertEquals(extractProgram("  def f(): return 2  \n"), "def f(): return 2");
});

/** What nanochat's task code printed for the same offline rows (canonical JSON of each example, hashed). */
const NANOCHAT_HASHES: [string, () => Promise<Task>, number, string][] = [
  [
    "GSM8K test",
    () => GSM8K.load({ split: "test", dataDir: CHAT! }),
    1319,
    "0ab11af71cccc020bae4476c954978caeb01b8d119ddd32f17d23f9aba9e991c",
  ],
  [
    "GSM8K train[:500]",
    () => GSM8K.load({ split: "train", stop: 500, dataDir: CHAT! }),
    500,
    "f5b5316979df9fd8c4fa36414d2fff477192a9456111d4d0989a90ae217fdaff",
  ],
  [
    "MMLU test[:500]",
    () => MMLU.load({ subset: "all", split: "test", stop: 500, dataDir: CHAT! }),
    500,
    "8a9a32194a7e637bde4eeedaaadb5f29192b9f9626c7941118cae7ed50fa2638",
  ],
  [
    "MMLU auxiliary_train",
    () => MMLU.load({ subset: "auxiliary_train", split: "train", dataDir: CHAT! }),
    1218,
    "edebb5964464b847eba4957ba96753486f5578b3c63daea17869d66e717b6fe1",
  ],
  [
    "ARC-Easy test[:300]",
    () => ARC.load({ subset: "ARC-Easy", split: "test", stop: 300, dataDir: CHAT! }),
    300,
    "c5f0d0d5a7a6ae9f5daa5b87cfc6848586edaf0ca84b97d73f2e837e695642fa",
  ],
  [
    "ARC-Challenge test[:300]",
    () => ARC.load({ subset: "ARC-Challenge", split: "test", stop: 300, dataDir: CHAT! }),
    300,
    "61227fb9173c1ef43652b9002e49b26dac28182eedf18c8d14ffb4005520c21a",
  ],
  [
    "HumanEval",
    () => HumanEval.load({ dataDir: CHAT! }),
    164,
    "a17a8a3a088ecb916ca97e05de5efb2aa5b95eabea1d733a6f8672dbf85d9a6e",
  ],
  [
    "SmolTalk test (stand-in)",
    () => SmolTalk.load({ split: "test", dataDir: CHAT! }),
    188,
    "3f9e573d1549cdb646ae2c6844e3f4f6fc6f601263f3f00b2bae72c9ccd4d601",
  ],
];

function exampleHash(task: Task, canonical: (c: TaskConversation) => unknown): string {
  const h = createHash("sha256");
  for (let i = 0; i < task.size; i++) h.update(JSON.stringify(canonical(task.get(i))));
  return h.digest("hex");
}

Deno.test({
  name: "every dataset task gives nanochat's examples in nanochat's shuffled order (offline rows)",
  ignore: CHAT === null,
  fn: async () => {
    for (const [name, load, size, expected] of NANOCHAT_HASHES) {
      const task = await load();
      assertEquals(task.size, size, name);
      const hash = exampleHash(
        task,
        (c) => [c.messages, c.letters ?? null, c.subject ?? null, c.entryPoint ?? null, c.test ?? null],
      );
      assertEquals(hash, expected, `${name}: examples differ from nanochat's`);
    }
  },
});

Deno.test({
  name: "SpellingBee and SimpleSpelling reproduce nanochat's generated examples byte for byte",
  ignore: CHAT === null,
  fn: async () => {
    const h = createHash("sha256");
    const bee = await SpellingBee.load({ size: 256, split: "test", dataDir: CHAT! });
    const tasks: Task[] = [
      bee,
      await SimpleSpelling.load({ size: 300, dataDir: CHAT! }),
      await SpellingBee.load({ size: 1000, split: "train", dataDir: CHAT! }),
    ];
    for (const t of tasks) for (let i = 0; i < t.size; i++) h.update(JSON.stringify(t.get(i)));
    assertEquals(h.digest("hex"), "8662525e0d7ec36ef54a2d686a80eaa722180ab0a05f3b7d773ad13ad6dcf10a");
    const ex = bee.get(0);
    assertEquals(ex.messages[0].content, "'cottonization'にnは何個ありますか");
    assert(await bee.evaluate(ex, "... so #### 2"));
    assert(!(await bee.evaluate(ex, "#### 3")));
    assertEquals(bee.reward(ex, "#### 2"), 1);
  },
});

Deno.test({
  name: "graded tasks: ARC/MMLU compare letters, GSM8K compares #### numbers and gives an RL reward",
  ignore: CHAT === null,
  fn: async () => {
    const arc = await ARC.load({ subset: "ARC-Easy", split: "test", dataDir: CHAT! });
    assertEquals(arc.evalType, "categorical");
    const ex = arc.get(0);
    assertEquals(ex.letters, ["A", "B", "C", "D"]);
    assert(await arc.evaluate(ex, ex.messages[1].content as string));
    assert(!(await arc.evaluate(ex, ex.messages[1].content === "A" ? "B" : "A")));
    const gsm = await GSM8K.load({ split: "test", dataDir: CHAT! });
    assertEquals(gsm.evalType, "generative");
    const g = gsm.get(0);
    const gold = extractHashAnswer((g.messages[1].content as { text: string }[]).at(-1)!.text)!;
    assert(await gsm.evaluate(g, `blah\n#### ${Number(gold).toLocaleString("en-US")}`));
    assertEquals(gsm.reward(g, "#### 99999999"), 0);
    assertEquals((await SmolTalk.load({ split: "train", dataDir: CHAT! })).evalType, null);
  },
});

Deno.test({
  name: "offline data: missing files, splits that exist only online, and malformed rows are clear errors",
  ignore: CHAT === null,
  fn: () =>
    withTempDir(async (dir) => {
      await assertRejects(
        () => ARC.load({ subset: "ARC-Easy", split: "train", dataDir: CHAT! }),
        UserError,
        "test splits only",
      );
      await assertRejects(
        () => GSM8K.load({ split: "test", dataDir: dir }),
        UserError,
        "gsm8k_test.jsonl is missing",
      );
      await Deno.writeTextFile(
        join(dir, "gsm8k_test.jsonl"),
        '{"question": "q", "answer": "#### 1"}\n{"question": 3}\n',
      );
      await assertRejects(
        () => GSM8K.load({ split: "test", dataDir: dir }),
        UserError,
        'row 2: field "question"',
      );
      await Deno.writeTextFile(
        join(dir, "conv.jsonl"),
        '[{"role":"user","content":"hi"},{"role":"user","content":"x"}]\n',
      );
      await assertRejects(
        () => CustomJSON.fromFile(join(dir, "conv.jsonl")),
        UserError,
        "line 1: message 1 must have role assistant",
      );
      await Deno.writeTextFile(
        join(dir, "ok.jsonl"),
        '[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]\n\n',
      );
      const cj = await CustomJSON.fromFile(join(dir, "ok.jsonl"));
      assertEquals(cj.size, 1);
      const id = await CustomJSON.identity({ dataDir: CHAT! });
      assertEquals(id.size, 1000);
    }),
});
