// SpellingBee ("how many r are in strawberry?") and SimpleSpelling ("spell the word"), nanochat's
// synthetic tasks over dwyl's 370K-word list. Every example is generated from its own Python
// `Random(seed)` (seed = index for train; -(index+1) for test, which CPython folds to index+1, so as in
// nanochat version A test items coincide with train items), so the prompts, quoting and answers match
// nanochat's exactly. SpellingBee's answer spells the word, counts by hand, checks with the calculator
// tool and ends in "#### n". Online the list is downloaded to <base>/words_alpha.txt as nanochat does;
// offline it is words_alpha.txt from the task-data folder (byte-identical to the downloaded file).
import type { MessagePart } from "../src/tokenizer/render.ts";
import { gradeHashAnswer } from "./gsm8k.ts";
import { PyRandom } from "./rng.ts";
import { cachedDownload, offlineDir, readOfflineText, type TaskDataOptions } from "./source.ts";
import { type EvalType, Task, type TaskConversation, type TaskSlice } from "./task.ts";

/** Where nanochat downloads the word list from. */
export const WORD_LIST_URL =
  "https://raw.githubusercontent.com/dwyl/english-words/refs/heads/master/words_alpha.txt";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz";

/** The user-message templates (English and six other languages), in nanochat's order. */
const TEMPLATES = [
  "How many {letter} are in the word {word}",
  "How many {letter} are in {word}",
  "Count the number of {letter} in {word}",
  "How many times does {letter} appear in {word}",
  "What's the count of {letter} in {word}",
  "In the word {word}, how many {letter} are there",
  "How many letter {letter} are in the word {word}",
  "Count how many {letter} appear in {word}",
  "Tell me the number of {letter} in {word}",
  "How many occurrences of {letter} are in {word}",
  "Find the count of {letter} in {word}",
  "Can you count the {letter} letters in {word}",
  "What is the frequency of {letter} in {word}",
  "How many {letter}s are in {word}",
  "How many {letter}'s are in {word}",
  "Count all the {letter} in {word}",
  "How many times is {letter} in {word}",
  "Number of {letter} in {word}",
  "Total count of {letter} in {word}",
  "How many {letter} does {word} have",
  "How many {letter} does {word} contain",
  "What's the number of {letter} in {word}",
  "{word} has how many {letter}",
  "In {word}, count the {letter}",
  "How many {letter} appear in {word}",
  "Count the {letter} in {word}",
  "Give me the count of {letter} in {word}",
  "How many instances of {letter} in {word}",
  "Show me how many {letter} are in {word}",
  "Calculate the number of {letter} in {word}",
  "¿Cuántas {letter} hay en {word}?",
  "¿Cuántas veces aparece {letter} en {word}?",
  "Cuenta las {letter} en {word}",
  "¿Cuántas letras {letter} tiene {word}?",
  "{word}中有多少个{letter}",
  "{word}里有几个{letter}",
  "数一下{word}中的{letter}",
  "{word}这个词里有多少{letter}",
  "{word}에 {letter}가 몇 개 있나요",
  "{word}에서 {letter}의 개수는",
  "{word}에 {letter}가 몇 번 나오나요",
  "{word}라는 단어에 {letter}가 몇 개",
  "Combien de {letter} dans {word}",
  "Combien de fois {letter} apparaît dans {word}",
  "Compte les {letter} dans {word}",
  "Wie viele {letter} sind in {word}",
  "Wie oft kommt {letter} in {word} vor",
  "Zähle die {letter} in {word}",
  "{word}に{letter}は何個ありますか",
  "{word}の中に{letter}がいくつ",
  "{word}に{letter}が何回出てくる",
];

/** Options of the spelling tasks. */
export interface SpellingOptions extends TaskSlice, TaskDataOptions {
  /** Number of examples (they are generated, so any size works). */
  size?: number;
  split?: "train" | "test";
}

/** The word list, one word per line as Python's `[line.strip() for line in f]` reads it. */
export async function loadWordList(o: TaskDataOptions): Promise<string[]> {
  const dir = offlineDir(o);
  const text = dir !== undefined
    ? await readOfflineText(dir, "words_alpha.txt")
    : await Deno.readTextFile(await cachedDownload(WORD_LIST_URL, "words_alpha.txt", o));
  const lines = text.split(/\r\n|\r|\n/);
  if (lines.at(-1) === "") lines.pop();
  return lines.map((l) => l.trim());
}

/** A task of `size` examples generated from a word list, example i from its own Random(seed). */
abstract class WordTask extends Task {
  protected readonly words: string[];
  readonly #size: number;
  readonly #split: "train" | "test";

  constructor(words: string[], o: SpellingOptions) {
    super(o);
    const size = o.size ?? 1000;
    const split = o.split ?? "train";
    if (split !== "train" && split !== "test") throw new RangeError("spelling split must be train|test");
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`size must be a whole number, got ${size}`);
    this.words = words;
    this.#size = size;
    this.#split = split;
  }

  numExamples(): number {
    return this.#size;
  }

  /** The generator of example `index`. */
  protected rng(index: number): PyRandom {
    return new PyRandom(this.#split === "train" ? index : -(index + 1));
  }
}

/** Counting a letter in a word, answered by hand and with the calculator tool. */
export class SpellingBee extends WordTask {
  readonly name = "SpellingBee";

  constructor(words: string[], o: SpellingOptions = {}) {
    super(words, o);
  }

  static async load(o: SpellingOptions = {}): Promise<SpellingBee> {
    return new SpellingBee(await loadWordList(o), o);
  }

  override get evalType(): EvalType {
    return "generative";
  }

  example(index: number): TaskConversation {
    const rng = this.rng(index);
    const word = rng.choice(this.words);
    const letter = rng.random() < 0.9 ? rng.choice(word) : rng.choice(ALPHABET);
    const count = word.split(letter).length - 1;
    let template = rng.choice(TEMPLATES);
    if (rng.random() < 0.3) template = template.toLowerCase();
    const quotes = ["", "'", '"'];
    const lq = rng.choice(quotes);
    const wq = rng.choice(quotes);
    let user = template.replaceAll("{letter}", `${lq}${letter}${lq}`).replaceAll(
      "{word}",
      `${wq}${word}${wq}`,
    );
    if (rng.random() < 0.5) user += "?";

    let manual = `We are asked to find the number '${letter}' in the word '${word}'. ` +
      `Let me try a manual approach first.\n\nFirst spell the word out:\n${word}:${[...word].join(",")}\n\n` +
      `Then count the occurrences of '${letter}':\n`;
    let running = 0;
    [...word].forEach((ch, i) => {
      // no space between the position and the letter: " a" and "a" are different tokens
      if (ch === letter) manual += `${i + 1}:${ch} hit! count=${++running}\n`;
      else manual += `${i + 1}:${ch}\n`;
    });
    manual += `\nThis gives us ${running}.`;
    const parts: MessagePart[] = [
      { type: "text", text: manual },
      { type: "text", text: "\n\nLet me double check this using Python:\n\n" },
      { type: "python", text: `'${word}'.count('${letter}')` },
      { type: "python_output", text: String(count) },
      { type: "text", text: `\n\nPython gives us ${count}.\n\nMy final answer is:\n\n#### ${count}` },
    ];
    return { messages: [{ role: "user", content: user }, { role: "assistant", content: parts }] };
  }

  override evaluate(conversation: TaskConversation, completion: string): Promise<boolean> {
    return Promise.resolve(gradeHashAnswer(conversation, completion));
  }

  /** RL reward: 1 when the "#### " answer matches, else 0. */
  reward(conversation: TaskConversation, completion: string): number {
    return gradeHashAnswer(conversation, completion) ? 1 : 0;
  }
}

/** Spelling a word letter by letter (the hard part of SpellingBee, condensed); words in Random(42) order. */
export class SimpleSpelling extends WordTask {
  readonly name = "SimpleSpelling";

  constructor(words: string[], o: SpellingOptions = {}) {
    super(new PyRandom(42).shuffle([...words]), o);
  }

  static async load(o: SpellingOptions = {}): Promise<SimpleSpelling> {
    return new SimpleSpelling(await loadWordList(o), o);
  }

  example(index: number): TaskConversation {
    const word = this.rng(index).choice(this.words);
    return {
      messages: [
        { role: "user", content: `Spell the word: ${word}` },
        { role: "assistant", content: `${word}:${[...word].join(",")}` },
      ],
    };
  }
}
