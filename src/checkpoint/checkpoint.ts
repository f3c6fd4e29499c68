// Checkpoints, laid out as nanochat lays them out, with safetensors instead of torch pickles:
//   <base>/{base,mid,chatsft,chatrl}_checkpoints/<model_tag>/
//     model_{step:06d}.safetensors, optim_{step:06d}_rank{r}.safetensors, meta_{step:06d}.json
// A save is atomic as a unit: every data file is written to a temp name and fsynced, then renamed into place,
// and the meta JSON is written LAST (temp + fsync + rename). A checkpoint counts as complete only when its meta
// and model files are both present, so a crash at any point never leaves a checkpoint that looks complete.
import { basename, join } from "node:path";
import { UserError } from "../common/errors.ts";
import { fsErrorToUserError } from "../common/fs.ts";
import { type NamedTensor, readSafetensors, type Tensor, writeSafetensorsFile } from "./safetensors.ts";

export type Stage = "base" | "mid" | "sft" | "rl";

const STAGE_DIRS: Readonly<Record<Stage, string>> = {
  base: "base_checkpoints",
  mid: "mid_checkpoints",
  sft: "chatsft_checkpoints",
  rl: "chatrl_checkpoints",
};

/** `<base>/<stage>_checkpoints` (base_checkpoints, mid_checkpoints, chatsft_checkpoints, chatrl_checkpoints). */
export function stageDir(baseDir: string, stage: Stage): string {
  return join(baseDir, STAGE_DIRS[stage]);
}

/** `<base>/<stage>_checkpoints/<modelTag>`. */
export function checkpointDir(baseDir: string, stage: Stage, modelTag: string): string {
  return join(stageDir(baseDir, stage), modelTag);
}

const pad = (step: number) => String(step).padStart(6, "0");
export const modelFile = (step: number) => `model_${pad(step)}.safetensors`;
export const optimFile = (step: number, rank = 0) => `optim_${pad(step)}_rank${rank}.safetensors`;
export const metaFile = (step: number) => `meta_${pad(step)}.json`;

/** Marker in the names of in-progress files; anything containing it is ignored by listing. */
const TMP_MARK = ".tmp-";

function trainHint(dir: string): string {
  const stageFolder = basename(join(dir, ".."));
  const stage = (Object.entries(STAGE_DIRS).find(([, d]) => d === stageFolder)?.[0] ?? "base") as Stage;
  return `train one with \`nanochat train ${stage}\``;
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * The model tag to use for a stage: the largest `d<N>` (d12 beats d4), else the most recently modified folder
 * (as nanochat's find_largest_model). Only tags holding at least one complete checkpoint count.
 */
export async function findModelTag(baseDir: string, stage: Stage): Promise<string> {
  const root = stageDir(baseDir, stage);
  const tags: { tag: string; depth: number | null; mtime: number }[] = [];
  if (await isDir(root)) {
    for await (const e of Deno.readDir(root)) {
      if (!e.isDirectory) continue;
      const dir = join(root, e.name);
      if ((await listCheckpoints(dir)).length === 0) continue;
      const m = /^d(\d+)/.exec(e.name);
      tags.push({
        tag: e.name,
        depth: m ? Number(m[1]) : null,
        mtime: (await Deno.stat(dir)).mtime?.getTime() ?? 0,
      });
    }
  }
  if (tags.length === 0) throw new UserError(`no checkpoint in ${root}: ${trainHint(join(root, "x"))}`);
  const withDepth = tags.filter((t) => t.depth !== null);
  if (withDepth.length > 0) {
    return withDepth.sort((a, b) => b.depth! - a.depth! || a.tag.localeCompare(b.tag))[0].tag;
  }
  return tags.sort((a, b) => b.mtime - a.mtime)[0].tag;
}

export interface CheckpointInfo {
  step: number;
  dir: string;
  modelPath: string;
  metaPath: string;
  /** optim_{step}_rank{r} files present, by rank order. */
  optimPaths: string[];
}

/** Complete checkpoints in `dir` (meta and model present), ascending by step; [] when the folder is missing. */
export async function listCheckpoints(dir: string): Promise<CheckpointInfo[]> {
  if (!(await isDir(dir))) return [];
  const names = new Set<string>();
  for await (const e of Deno.readDir(dir)) if (e.isFile && !e.name.includes(TMP_MARK)) names.add(e.name);
  const out: CheckpointInfo[] = [];
  for (const name of names) {
    const m = /^meta_(\d{6,})\.json$/.exec(name);
    if (!m) continue;
    const step = Number(m[1]);
    if (!names.has(modelFile(step))) continue;
    const optim: { rank: number; path: string }[] = [];
    const re = new RegExp(`^optim_${pad(step)}_rank(\\d+)\\.safetensors$`);
    for (const n of names) {
      const om = re.exec(n);
      if (om) optim.push({ rank: Number(om[1]), path: join(dir, n) });
    }
    optim.sort((a, b) => a.rank - b.rank);
    out.push({
      step,
      dir,
      modelPath: join(dir, modelFile(step)),
      metaPath: join(dir, name),
      optimPaths: optim.map((o) => o.path),
    });
  }
  return out.sort((a, b) => a.step - b.step);
}

/** The complete checkpoint with the highest step, or null. */
export async function latestCheckpoint(dir: string): Promise<CheckpointInfo | null> {
  const all = await listCheckpoints(dir);
  return all.length > 0 ? all[all.length - 1] : null;
}

async function fsyncDir(dir: string): Promise<void> {
  try {
    const f = await Deno.open(dir, { read: true });
    try {
      await f.sync();
    } finally {
      f.close();
    }
  } catch {
    // some platforms cannot fsync a directory; the renames are still atomic
  }
}

async function removeIfExists(path: string): Promise<void> {
  await Deno.remove(path).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
}

/**
 * Removes leftovers of crashed saves: temp files, and data files of steps that have no meta (never completed).
 * Called at the start of every save. Assumes one saver per directory at a time (with several ranks, only rank 0
 * should call it, before the other ranks start writing their optimizer shards).
 */
export async function cleanIncomplete(dir: string): Promise<string[]> {
  if (!(await isDir(dir))) return [];
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isFile) names.push(e.name);
  const present = new Set(names.filter((n) => !n.includes(TMP_MARK)));
  const removed: string[] = [];
  for (const n of names) {
    const data = /^(?:model|optim)_(\d{6,})(?:_rank\d+)?\.safetensors$/.exec(n);
    const orphan = data !== null && !present.has(metaFile(Number(data[1])));
    if (n.includes(TMP_MARK) || orphan) {
      await removeIfExists(join(dir, n));
      removed.push(n);
    }
  }
  return removed;
}

export interface CheckpointData {
  /** Model weights (rank 0 writes them). */
  model: NamedTensor[];
  /** Optimizer state of this rank (written as optim_{step}_rank{rank}). */
  optim?: NamedTensor[];
  /** Arbitrary JSON metadata (model config, user config, step, val bpb...), written verbatim as meta_{step}.json. */
  meta: Record<string, unknown>;
  /** Which rank's optimizer shard `optim` is; default 0. */
  rank?: number;
  /** String metadata stored in the safetensors headers (e.g. format, version). */
  tensorMetadata?: Record<string, string>;
}

/** Points in a save where the caller runs code: the ranks of a data-parallel run meet at afterClean. */
export interface SaveHooks {
  /** After leftovers are cleaned and before anything is written (other ranks write their shards then). */
  afterClean?: () => void | Promise<void>;
  /** Test hook: after the data files are renamed into place and before the meta is written. */
  beforeMeta?: () => void | Promise<void>;
}

/**
 * Rank r > 0 of a data-parallel run: writes its optimizer shard optim_{step}_rank{r} (temp file +
 * rename). Rank 0's saveCheckpoint writes the meta after every shard is in place (its afterClean hook
 * is where the ranks meet), so a crash in between leaves orphans that the next save cleans.
 */
export async function saveOptimShard(
  dir: string,
  step: number,
  rank: number,
  optim: NamedTensor[],
): Promise<void> {
  const final = join(dir, optimFile(step, rank));
  const tmp = `${final}${TMP_MARK}${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await writeSafetensorsFile(tmp, optim);
    await Deno.rename(tmp, final);
    await fsyncDir(dir);
  } catch (err) {
    await removeIfExists(tmp).catch(() => {});
    throw fsErrorToUserError(err, dir);
  }
}

/** Saves a checkpoint atomically as a unit (see the file comment); returns where it went. */
export async function saveCheckpoint(
  dir: string,
  step: number,
  data: CheckpointData,
  hooks: SaveHooks = {},
): Promise<CheckpointInfo> {
  if (!Number.isSafeInteger(step) || step < 0) {
    throw new Error(`checkpoint step must be a non-negative integer`);
  }
  try {
    await Deno.mkdir(dir, { recursive: true });
    await cleanIncomplete(dir);
  } catch (err) {
    throw fsErrorToUserError(err, dir);
  }
  await hooks.afterClean?.();
  const rank = data.rank ?? 0;
  const tag = `${TMP_MARK}${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const files: { tmp: string; final: string }[] = [
    { tmp: join(dir, modelFile(step) + tag), final: join(dir, modelFile(step)) },
  ];
  if (data.optim) {
    files.push({ tmp: join(dir, optimFile(step, rank) + tag), final: join(dir, optimFile(step, rank)) });
  }
  const metaPath = join(dir, metaFile(step));
  const metaTmp = metaPath + tag;
  try {
    await writeSafetensorsFile(files[0].tmp, data.model, data.tensorMetadata);
    if (data.optim) await writeSafetensorsFile(files[1].tmp, data.optim, data.tensorMetadata);
    const metaJson = JSON.stringify(data.meta, null, 2) + "\n";
    // Re-saving an existing step: drop its meta first so a crash mid-rename cannot pair old meta with new data.
    await removeIfExists(metaPath);
    await fsyncDir(dir);
    for (const f of files) await Deno.rename(f.tmp, f.final);
    await fsyncDir(dir);
    await hooks.beforeMeta?.();
    const mf = await Deno.open(metaTmp, { write: true, create: true, truncate: true });
    try {
      const bytes = new TextEncoder().encode(metaJson);
      for (let done = 0; done < bytes.length;) done += await mf.write(bytes.subarray(done));
      await mf.sync();
    } finally {
      mf.close();
    }
    await Deno.rename(metaTmp, metaPath);
    await fsyncDir(dir);
  } catch (err) {
    for (const f of files) await removeIfExists(f.tmp).catch(() => {});
    await removeIfExists(metaTmp).catch(() => {});
    // a full or read-only disk: one clear line (the previous checkpoints are untouched)
    throw fsErrorToUserError(err, dir);
  }
  const info = (await listCheckpoints(dir)).find((c) => c.step === step);
  if (!info) throw new Error(`checkpoint ${step} in ${dir} is not listed after saving`);
  return info;
}

export type ExpectedShapes = Record<string, readonly number[]> | { name: string; shape: readonly number[] }[];

export interface LoadOptions {
  /** Check the model tensors against these shapes (missing, unexpected and wrong-shaped tensors are errors). */
  expect?: ExpectedShapes;
  /** With `expect`: also reject tensors not listed (as torch's strict=True). Default true. */
  strict?: boolean;
  /** Load optim_{step}_rank{rank}; default false. */
  loadOptim?: boolean;
  rank?: number;
  /** Return BF16 tensors as F32. Default true. */
  upcastBf16?: boolean;
}

export interface LoadedCheckpoint {
  step: number;
  dir: string;
  model: Map<string, Tensor>;
  optim?: Map<string, Tensor>;
  meta: Record<string, unknown>;
}

function expectedEntries(expect: ExpectedShapes): { name: string; shape: readonly number[] }[] {
  return Array.isArray(expect) ? expect : Object.entries(expect).map(([name, shape]) => ({ name, shape }));
}

/** Checks tensors against expected shapes; throws a UserError listing every problem. */
export function checkShapes(
  where: string,
  tensors: Map<string, Tensor>,
  expect: ExpectedShapes,
  strict = true,
): void {
  const problems: string[] = [];
  const wanted = expectedEntries(expect);
  const names = new Set(wanted.map((w) => w.name));
  for (const w of wanted) {
    const t = tensors.get(w.name);
    if (!t) problems.push(`missing tensor "${w.name}" (expected shape [${w.shape.join(", ")}])`);
    else if (t.shape.length !== w.shape.length || t.shape.some((d, i) => d !== w.shape[i])) {
      problems.push(
        `tensor "${w.name}": expected shape [${w.shape.join(", ")}], found [${t.shape.join(", ")}]`,
      );
    }
  }
  if (strict) {
    for (const n of tensors.keys()) if (!names.has(n)) problems.push(`unexpected tensor "${n}"`);
  }
  if (problems.length > 0) {
    throw new UserError(
      `checkpoint ${where} does not match the model:\n  ${problems.slice(0, 20).join("\n  ")}` +
        (problems.length > 20 ? `\n  ... and ${problems.length - 20} more` : ""),
    );
  }
}

/** Loads the checkpoint at `step` (default: the latest complete one) from `dir`. */
export async function loadCheckpoint(
  dir: string,
  step?: number,
  options: LoadOptions = {},
): Promise<LoadedCheckpoint> {
  const all = await listCheckpoints(dir);
  if (all.length === 0) throw new UserError(`no checkpoint in ${dir}: ${trainHint(dir)}`);
  const info = step === undefined ? all[all.length - 1] : all.find((c) => c.step === step);
  if (!info) {
    throw new UserError(
      `no checkpoint at step ${step} in ${dir} (available steps: ${all.map((c) => c.step).join(", ")})`,
    );
  }
  let meta: Record<string, unknown>;
  try {
    const parsed = JSON.parse(await Deno.readTextFile(info.metaPath));
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new Error("not an object");
    }
    meta = parsed;
  } catch (err) {
    throw new UserError(`corrupt checkpoint metadata ${info.metaPath}: ${(err as Error).message}`);
  }
  const upcastBf16 = options.upcastBf16 ?? true;
  const { tensors: model } = await readSafetensors(info.modelPath, { upcastBf16 });
  if (options.expect) checkShapes(info.modelPath, model, options.expect, options.strict ?? true);
  let optim: Map<string, Tensor> | undefined;
  if (options.loadOptim) {
    const path = join(dir, optimFile(info.step, options.rank ?? 0));
    try {
      await Deno.stat(path);
    } catch {
      throw new UserError(
        `checkpoint ${info.step} in ${dir} has no optimizer state for rank ${options.rank ?? 0}`,
      );
    }
    optim = (await readSafetensors(path, { upcastBf16 })).tensors;
  }
  return { step: info.step, dir, model, optim, meta };
}

/**
 * Deletes all but the newest `keepLast` complete checkpoints (meta first, so a half-deleted one looks incomplete);
 * returns the deleted steps. The newest checkpoint is never deleted.
 */
export async function pruneCheckpoints(dir: string, keepLast: number): Promise<number[]> {
  if (!Number.isSafeInteger(keepLast) || keepLast < 1) {
    throw new UserError(
      `keep-last must be a positive integer (the newest checkpoint is always kept), got ${keepLast}`,
    );
  }
  const all = await listCheckpoints(dir);
  const doomed = all.slice(0, Math.max(0, all.length - keepLast));
  for (const c of doomed) {
    await removeIfExists(c.metaPath);
    await removeIfExists(c.modelPath);
    for (const p of c.optimPaths) await removeIfExists(p);
  }
  return doomed.map((c) => c.step);
}
