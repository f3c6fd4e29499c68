// Where every artifact lives: --base-dir, else $NANOCHAT_BASE_DIR, else ~/.cache/nanochat (as nanochat).
import { join } from "node:path";
import { UserError } from "./errors.ts";

/** Resolves the base directory (not created here; writers create what they need). */
export function resolveBaseDir(override?: string): string {
  if (override) return override;
  const fromEnv = Deno.env.get("NANOCHAT_BASE_DIR");
  if (fromEnv) return fromEnv;
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  if (!home) {
    throw new UserError(
      "cannot find a home directory (HOME is not set) for the default base dir ~/.cache/nanochat: " +
        "set NANOCHAT_BASE_DIR or pass --base-dir",
    );
  }
  return join(home, ".cache", "nanochat");
}

/** The artifact folders under the base dir, named as nanochat names them. */
export const layout = {
  data: (base: string) => join(base, "base_data"),
  tokenizer: (base: string) => join(base, "tokenizer"),
  report: (base: string) => join(base, "report"),
  lib: (base: string) => join(base, "lib"),
};
