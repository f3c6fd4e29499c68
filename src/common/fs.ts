// Small filesystem helpers: atomic writes (temp file + rename) so a crash never leaves a half file, and the
// translation of the environment's write failures (full disk, no permission, read-only) into one-line errors.
import { dirname } from "node:path";
import { UserError } from "./errors.ts";

/** Writes `data` to `path` via a sibling temp file and a rename; the target is either old or new, never half. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await Deno.mkdir(dirname(path), { recursive: true });
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw fsErrorToUserError(err, path);
  }
}

/** The OS error code of a failed file operation (Deno sets `code`, e.g. "ENOSPC"), or undefined. */
function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * A one-line, actionable message for a write that failed because of the environment (disk full, quota,
 * permission, read-only filesystem), or null for any other error. `path` is what was being written.
 */
export function describeWriteError(err: unknown, path: string): string | null {
  const where = `cannot write ${path}`;
  const elsewhere = "or pass --base-dir (or NANOCHAT_BASE_DIR) on a disk with room";
  switch (errorCode(err)) {
    case "ENOSPC":
      return `${where}: the disk is full; free some space ${elsewhere}`;
    case "EDQUOT":
      return `${where}: the disk quota is exhausted; free some space ${elsewhere}`;
    case "EROFS":
      return `${where}: the filesystem is read-only; pass --base-dir (or NANOCHAT_BASE_DIR) on a writable disk`;
    case "EACCES":
    case "EPERM":
      return `${where}: permission denied; make it writable or pass --base-dir (or NANOCHAT_BASE_DIR) ` +
        `to a folder you own`;
    case "ENOTDIR":
      return `${where}: a part of the path is a file, not a folder; remove it or choose another --base-dir`;
  }
  return null;
}

/**
 * The one-line message for an environment failure that reached the top without a path-aware handler: Deno's
 * OS errors name the path in quotes ("... (os error 28): open '/x/y'"), which the message reuses.
 */
export function describeEnvironmentError(err: unknown): string | null {
  const path = /'([^']+)'\s*$/.exec(err instanceof Error ? err.message : "")?.[1];
  return describeWriteError(err, path ?? "a file");
}

/** `err` as a UserError when it is an environment write failure (see describeWriteError), else unchanged. */
export function fsErrorToUserError(err: unknown, path: string): unknown {
  if (err instanceof UserError) return err;
  const message = describeWriteError(err, path);
  return message === null ? err : new UserError(message);
}

/** True when `path` exists (file or directory). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** Formats a byte count for humans (1.5 MB, 230 KB). */
export function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** Formats seconds as 1h02m, 3m05s or 12s. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/**
 * Runs `fn` holding an exclusive lock on `lockPath` (created when missing). Processes that would
 * download or unpack the same thing at once (the ranks of a data-parallel run) take turns: the first
 * does the work, the others then find it done.
 */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  const lock = await Deno.open(lockPath, { create: true, write: true });
  try {
    await lock.lock(true);
    return await fn();
  } finally {
    lock.close(); // releases the lock
  }
}
