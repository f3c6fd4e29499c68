// Loading a dataset task's rows: from the hub (nanochat's source) or from the offline folder, normalized
// to the hub's row shape, then put in the order of nanochat's `.shuffle(seed=42)` (a NumPy
// default_rng(42) permutation, exactly what Hugging Face `datasets` does), which is what decides the
// rows a `stop=` slice takes.
import { join } from "node:path";
import { UserError } from "../src/common/errors.ts";
import { type HubSplit, loadHubRows } from "./hub.ts";
import { numpyPermutation } from "./rng.ts";
import { offlineDir, readOfflineJsonl, type TaskDataOptions } from "./source.ts";

/** How to get one split of a dataset, online and offline. */
export interface RowSource<R> {
  hub: HubSplit;
  /** Hub row -> R (throws a RowError on a malformed row). */
  fromHub: (row: Record<string, unknown>) => R;
  /** The offline file and its row mapping, or why this split has no offline file. */
  offline: { file: string; fromFile: (row: Record<string, unknown>) => R } | { unavailable: string };
}

/** A malformed row; the loader adds where it was. */
export class RowError extends Error {}

/** Loads a split's rows in nanochat's shuffled order (seed 42). */
export async function loadShuffledRows<R>(src: RowSource<R>, opts: TaskDataOptions): Promise<R[]> {
  const dir = offlineDir(opts);
  let raw: unknown[];
  let map: (row: Record<string, unknown>) => R;
  let where: string;
  if (dir !== undefined) {
    if ("unavailable" in src.offline) {
      throw new UserError(
        `${src.hub.repo} ${src.hub.subset}/${src.hub.split} is not in the offline task data (${src.offline.unavailable}): ` +
          `leave --task-data-dir unset to download it`,
      );
    }
    raw = await readOfflineJsonl(dir, src.offline.file);
    map = src.offline.fromFile;
    where = join(dir, src.offline.file);
  } else {
    raw = await loadHubRows(src.hub, opts);
    map = src.fromHub;
    where = `${src.hub.repo} ${src.hub.subset}/${src.hub.split}`;
  }
  const rows = raw.map((r, i) => {
    try {
      if (!r || typeof r !== "object" || Array.isArray(r)) throw new RowError("not an object");
      return map(r as Record<string, unknown>);
    } catch (err) {
      if (err instanceof RowError) throw new UserError(`${where} row ${i + 1}: ${err.message}`);
      throw err;
    }
  });
  const perm = numpyPermutation(rows.length, 42);
  return Array.from(perm, (p) => rows[p]);
}

/** A string field, or a RowError. */
export function str(row: Record<string, unknown>, key: string): string {
  const v = row[key];
  if (typeof v !== "string") throw new RowError(`field "${key}" must be a string`);
  return v;
}

/** A list-of-strings field, or a RowError. */
export function strList(row: Record<string, unknown>, key: string): string[] {
  const v = row[key];
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
    throw new RowError(`field "${key}" must be a list of strings`);
  }
  return v;
}

/** An integer field (parquet INT64 comes back as bigint), or a RowError. */
export function int(row: Record<string, unknown>, key: string): number {
  const v = row[key];
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n)) throw new RowError(`field "${key}" must be an integer`);
  return n;
}
