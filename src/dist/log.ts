// Logging in a data-parallel run: rank 0 alone reports progress; a rank's own problems carry its rank.
import type { DistEnv } from "./env.ts";

/** Prints with console.log on rank 0 only (progress, metrics, results). */
export function print0(env: DistEnv, ...args: unknown[]): void {
  if (env.rank === 0) console.log(...args);
}

/** "[rank 3/8] " in a multi-rank run, "" otherwise: for messages every rank may print. */
export function rankPrefix(env: DistEnv): string {
  return env.worldSize > 1 ? `[rank ${env.rank}/${env.worldSize}] ` : "";
}

/** Prints on stderr from any rank, prefixed with the rank (warnings and errors). */
export function printRank(env: DistEnv, ...args: unknown[]): void {
  console.error(rankPrefix(env) + args.map(String).join(" "));
}
