// The task mixtures midtraining and SFT train on, as nanochat A builds them (mid_train.py, chat_sft.py),
// with the offline stand-ins DATA.md names: SmolTalk train -> Dolly-15k, SmolTalk test -> OASST1 top-1,
// MMLU auxiliary_train -> its 1,218-row partial copy, identity -> the Oct 2025 conversations. ARC has no
// train split offline, so SFT leaves it out (an evaluation split is never trained on). Each mixture says
// which datasets went in and how many rows each gave, for the log and the report.
import { UserError } from "../common/errors.ts";
import {
  ARC,
  CustomJSON,
  GSM8K,
  loadWordList,
  MMLU,
  offlineDir,
  SimpleSpelling,
  SmolTalk,
  SpellingBee,
  type Task,
  type TaskDataOptions,
  TaskMixture,
} from "../../tasks/mod.ts";

/** One dataset of a mixture: how it is named in the log and how many rows it gave. */
export interface MixturePart {
  name: string;
  rows: number;
  /** Why it is absent or differs from nanochat's (offline stand-ins). */
  note?: string;
}

/** A mixture ready to train on, plus what went into it. */
export interface ChatMixture {
  /** The shuffled mixture; null when every part is empty. */
  task: Task | null;
  parts: MixturePart[];
  rows: number;
}

function mix(parts: { part: MixturePart; task: Task | null }[]): ChatMixture {
  const tasks = parts.map((p) => p.task).filter((t): t is Task => t !== null && t.size > 0);
  const rows = tasks.reduce((n, t) => n + t.size, 0);
  return { task: rows > 0 ? new TaskMixture(tasks) : null, parts: parts.map((p) => p.part), rows };
}

function entry(name: string, task: Task | null, note?: string) {
  return { part: { name, rows: task?.size ?? 0, note }, task };
}

/** One line per dataset: "  SmolTalk train: 15,015 rows (offline stand-in: ...)". */
export function describeMixture(label: string, m: ChatMixture): string {
  const lines = m.parts.map((p) =>
    `  ${p.name}: ${p.rows.toLocaleString("en-US")} rows${p.note ? ` (${p.note})` : ""}`
  );
  return `${label} mixture, ${m.rows.toLocaleString("en-US")} rows:\n${lines.join("\n")}`;
}

/** Fails with a clear line when a mixture has no rows at all. */
export function requireRows(label: string, m: ChatMixture, o: TaskDataOptions): Task {
  if (m.task === null) {
    const where = offlineDir(o) ?? "the downloaded datasets";
    throw new UserError(
      `the ${label} mixture is empty (every dataset in ${where} gave 0 rows): ` +
        `point --task-data-dir at a folder laid out like shared/data/chat`,
    );
  }
  return m.task;
}

async function words(o: TaskDataOptions): Promise<string[]> {
  return (await loadWordList(o)).filter((w) => w.length > 0);
}

const offlineNotes = (o: TaskDataOptions) => {
  const offline = offlineDir(o) !== undefined;
  return {
    smoltalkTrain: offline ? "offline stand-in: Dolly-15k" : undefined,
    smoltalkTest: offline ? "offline stand-in: OASST1 validation top-1" : undefined,
    mmluAux: offline ? "offline: 2 of the 8 auxiliary_train files" : undefined,
    identity: offline ? "offline: the Oct 2025 identity conversations" : undefined,
  };
};

function identity(o: TaskDataOptions): Promise<CustomJSON> {
  return CustomJSON.identity({ ...o, version: offlineDir(o) !== undefined ? "2025" : undefined });
}

/** mid_train.py's train and validation mixtures. */
export async function midMixtures(o: TaskDataOptions): Promise<{ train: ChatMixture; val: ChatMixture }> {
  const notes = offlineNotes(o);
  const ident = await identity(o);
  const wordList = await words(o);
  const spelling = wordList.length > 0;
  const train = mix([
    entry("SmolTalk train", await SmolTalk.load({ ...o, split: "train" }), notes.smoltalkTrain),
    entry(
      "MMLU auxiliary_train",
      await MMLU.load({ ...o, subset: "auxiliary_train", split: "train" }),
      notes.mmluAux,
    ),
    entry("GSM8K train", await GSM8K.load({ ...o, split: "train" })),
    entry("identity conversations", ident, notes.identity),
    entry("identity conversations (2nd epoch)", ident, notes.identity),
    entry(
      "SimpleSpelling",
      spelling ? new SimpleSpelling(wordList, { size: 200_000, split: "train" }) : null,
      spelling ? undefined : "the word list is empty",
    ),
    entry(
      "SpellingBee",
      spelling ? new SpellingBee(wordList, { size: 80_000, split: "train" }) : null,
      spelling ? undefined : "the word list is empty",
    ),
  ]);
  const val = mix([
    entry("SmolTalk test", await SmolTalk.load({ ...o, split: "test" }), notes.smoltalkTest),
    entry("MMLU test[:5200]", await MMLU.load({ ...o, subset: "all", split: "test", stop: 5200 })),
    entry("GSM8K test[:420]", await GSM8K.load({ ...o, split: "test", stop: 420 })),
  ]);
  return { train, val };
}

/** chat_sft.py's train mixture and its validation set (SmolTalk test). */
export async function sftMixtures(o: TaskDataOptions): Promise<{ train: ChatMixture; val: ChatMixture }> {
  const notes = offlineNotes(o);
  const offline = offlineDir(o) !== undefined;
  const wordList = await words(o);
  const spelling = wordList.length > 0;
  const arc = async (subset: "ARC-Easy" | "ARC-Challenge") =>
    offline ? null : await ARC.load({ ...o, subset, split: "train" });
  const train = mix([
    entry("ARC-Easy train", await arc("ARC-Easy"), offline ? "absent offline: left out" : undefined),
    entry(
      "ARC-Challenge train",
      await arc("ARC-Challenge"),
      offline ? "absent offline: left out" : undefined,
    ),
    entry("GSM8K train", await GSM8K.load({ ...o, split: "train" })),
    entry(
      "SmolTalk train[:10000]",
      await SmolTalk.load({ ...o, split: "train", stop: 10_000 }),
      notes.smoltalkTrain,
    ),
    entry("identity conversations", await identity(o), notes.identity),
    entry(
      "SimpleSpelling",
      spelling ? new SimpleSpelling(wordList, { size: 300, split: "train" }) : null,
      spelling ? undefined : "the word list is empty",
    ),
    entry(
      "SpellingBee",
      spelling ? new SpellingBee(wordList, { size: 300, split: "train" }) : null,
      spelling ? undefined : "the word list is empty",
    ),
  ]);
  const val = mix([entry("SmolTalk test", await SmolTalk.load({ ...o, split: "test" }), notes.smoltalkTest)]);
  return { train, val };
}
