// Shared test helpers: where the shared offline data lives and small temp-dir utilities.
import { fileURLToPath } from "node:url";

/** The repository's sibling `shared/data/pretrain` folder, or null when this checkout has none. */
export function sharedPretrainDir(): string | null {
  const path = fileURLToPath(new URL("../../shared/data/pretrain", import.meta.url));
  try {
    return Deno.statSync(path).isDirectory ? path : null;
  } catch {
    return null;
  }
}

/** Runs `fn` with a fresh temporary directory that is removed afterwards. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T> | T): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "nanochat-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
