// Finds and opens a native library (the Rust BPE library now, the compute library later) through Deno FFI.
//
// Search order: an explicit env override, then the library built in this source tree. A binary made by
// `deno compile` carries the library inside its virtual filesystem, which dlopen cannot read, so we copy it
// once to <base dir>/lib/ under a content-hashed name and open that copy.
import { join } from "node:path";
import { layout, resolveBaseDir } from "../src/common/base_dir.ts";
import { UserError } from "../src/common/errors.ts";

/** File name of a shared library on this OS: nanochat_bpe -> libnanochat_bpe.so / .dylib / nanochat_bpe.dll. */
export function sharedLibraryName(stem: string): string {
  switch (Deno.build.os) {
    case "darwin":
      return `lib${stem}.dylib`;
    case "windows":
      return `${stem}.dll`;
    default:
      return `lib${stem}.so`;
  }
}

export interface LibrarySpec {
  /** Library stem, e.g. "nanochat_bpe". */
  stem: string;
  /** Environment variable that may point at the library file. */
  envVar: string;
  /** The build output inside the source tree (a file: URL next to this module). */
  builtUrl: URL;
  /** The command that builds it, for the error message. */
  buildHint: string;
}

/** Opens the library described by `spec` with the given symbols. */
export function openLibrary<S extends Deno.ForeignLibraryInterface>(
  spec: LibrarySpec,
  symbols: S,
): Deno.DynamicLibrary<S> {
  const override = Deno.env.get(spec.envVar);
  if (override) return dlopenOrExplain(override, symbols, spec);
  const built = spec.builtUrl.protocol === "file:" ? decodeURIComponent(spec.builtUrl.pathname) : null;
  if (built === null) throw new UserError(`cannot locate ${spec.stem}: set ${spec.envVar}`);
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(built);
  } catch {
    throw new UserError(
      `the native library ${sharedLibraryName(spec.stem)} was not found at ${built}.\n` +
        `Build it with \`${spec.buildHint}\`, or point ${spec.envVar} at a built copy.`,
    );
  }
  try {
    return Deno.dlopen(built, symbols);
  } catch {
    // Inside a compiled binary the path is virtual: materialize a real copy and open that.
    return dlopenOrExplain(materialize(spec.stem, bytes), symbols, spec);
  }
}

function dlopenOrExplain<S extends Deno.ForeignLibraryInterface>(
  path: string,
  symbols: S,
  spec: LibrarySpec,
): Deno.DynamicLibrary<S> {
  try {
    return Deno.dlopen(path, symbols);
  } catch (err) {
    throw new UserError(
      `could not load ${path}: ${(err as Error).message}\nRebuild it with \`${spec.buildHint}\`.`,
    );
  }
}

function materialize(stem: string, bytes: Uint8Array): string {
  const dir = layout.lib(resolveBaseDir());
  Deno.mkdirSync(dir, { recursive: true });
  const hash = fnv1a(bytes).toString(16).padStart(8, "0");
  const path = join(dir, `${hash}-${sharedLibraryName(stem)}`);
  try {
    if (Deno.statSync(path).size === bytes.length) return path;
  } catch { /* not there yet */ }
  const tmp = `${path}.${Deno.pid}.tmp`;
  Deno.writeFileSync(tmp, bytes);
  Deno.renameSync(tmp, path);
  return path;
}

// A cheap content hash so two program versions never share one extracted copy.
function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
