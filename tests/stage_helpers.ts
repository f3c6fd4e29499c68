// Shared pieces of the training-stage tests (base, mid, sft, their data-parallel runs): the offline data
// they run on, the per-step losses read from a stage's log, and the checks every resumable stage gets (an
// exact stop + resume, one checkpoint saved on a signal, a failed run leaving the checkpoints alone).
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { join } from "node:path";
import { listCheckpoints } from "../src/checkpoint/checkpoint.ts";
import { runCliUntil, sharedChatDir, sharedPretrainDir } from "./helpers.ts";

export const PRETRAIN = sharedPretrainDir();
export const CHAT = sharedChatDir();
/** True when this checkout lacks the pretraining shards or the chat data a chat stage needs. */
export const NO_CHAT_DATA = PRETRAIN === null || CHAT === null;

/**
 * Step -> loss (as printed) from a stage's step lines: `step 00003/00006 ... | loss: x |` (base, sft) or
 * `step 00003 (12.50%) | loss: x |` (mid). Validation and accuracy lines have neither form.
 */
export function stepLosses(out: string): Map<number, string> {
  const losses = new Map<number, string>();
  for (const m of out.matchAll(/^step (\d+)(?:\/\d+ | \().*\| loss: ([\d.]+) \|/gm)) {
    losses.set(Number(m[1]), m[2]);
  }
  return losses;
}

type Run = (extra: string[]) => Promise<{ code: number; out: string; err: string }>;

/**
 * Runs `flags` (6 steps) whole as --model-tag full, then as --model-tag split stopped after step 3 and
 * resumed, and asserts the resumed steps' losses equal the whole run's. `afterStop` checks the stopped run's
 * checkpoint before the resume.
 */
export async function assertExactResume(run: Run, flags: string[], afterStop?: () => Promise<void>) {
  const full = await run([...flags, "--model-tag", "full"]);
  assertEquals(full.code, 0, full.err);
  const fullLosses = stepLosses(full.out);
  assertEquals([...fullLosses.keys()], [1, 2, 3, 4, 5, 6]);
  const first = await run([...flags, "--model-tag", "split", "--stop-after", "3"]);
  assertEquals([...stepLosses(first.out).keys()], [1, 2, 3]);
  await afterStop?.();
  const second = await run([...flags, "--model-tag", "split", "--resume"]);
  assertStringIncludes(second.out, "resumed from");
  const resumed = stepLosses(second.out);
  assertEquals([...resumed.keys()], [4, 5, 6]);
  for (const [step, loss] of resumed) assertEquals(loss, fullLosses.get(step), `step ${step}`);
}

/**
 * Runs the stage `args` toward 100000 steps as --model-tag term, sends SIGTERM once `stepLine` is printed
 * (step 2), and asserts it exited 0 with one checkpoint in `dir` (its term folder), in between.
 */
export async function assertSigtermSaves(args: string[], stepLine: RegExp, dir: string) {
  const { code, out } = await runCliUntil(
    [...args, "--num-iterations", "100000", "--model-tag", "term"],
    stepLine,
    "SIGTERM",
  );
  assertEquals(code, 0, out);
  const saved = await listCheckpoints(dir);
  assertEquals(saved.length, 1);
  assert(saved[0].step >= 2 && saved[0].step < 100000, `saved at ${saved[0].step}`);
}

/** A copy of the chat data folder under `base` with every file empty: a mixture with no rows. */
export function emptyTaskDir(base: string): string {
  const empty = join(base, "empty_tasks");
  Deno.mkdirSync(empty);
  for (const f of Deno.readDirSync(CHAT!)) Deno.writeTextFileSync(join(empty, f.name), "");
  return empty;
}

/** The model bytes of the one checkpoint in `dir` (a 2-step run's), for assertUntouched. */
export async function onlyModelBytes(dir: string): Promise<Uint8Array> {
  return Deno.readFileSync((await listCheckpoints(dir))[0].modelPath);
}

/** Asserts `dir` still holds the one step-2 checkpoint whose model bytes were `before`. */
export async function assertUntouched(dir: string, before: Uint8Array) {
  const after = await listCheckpoints(dir);
  assertEquals(after.map((x) => x.step), [2]);
  assertEquals(Deno.readFileSync(after[0].modelPath), before);
}
