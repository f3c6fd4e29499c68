// Finds and opens a native library (the Rust BPE library, a compute backend) through Deno FFI.
//
// Search order: an explicit env override, then the library built in this source tree. A program made by
// `deno compile` carries the library inside its virtual filesystem, which dlopen cannot read, so the
// bytes are extracted once to <base dir>/lib/ under a content-hashed name (written to a temp file, synced,
// renamed) and that copy is opened. `embedded` forces that path, so tests exercise it without `denort`.
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

/** Where a native library comes from. */
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

/** How libraries are located. */
export interface LocateOptions {
  /** Treat the built library as embedded in a compiled program (default: Deno.build.standalone). */
  embedded?: boolean;
  /** Where embedded libraries are extracted (default: <base dir>/lib). */
  extractDir?: string;
}

/** The real file to dlopen for `spec`: the env override, the built library, or its extracted copy. */
export function libraryPath(spec: LibrarySpec, opts: LocateOptions = {}): string {
  const override = Deno.env.get(spec.envVar);
  if (override) return override;
  const built = spec.builtUrl.protocol === "file:" ? decodeURIComponent(spec.builtUrl.pathname) : null;
  if (built === null) throw new UserError(`cannot locate ${spec.stem}: set ${spec.envVar}`);
  let bytes: Uint8Array;
  try {
    if (!(opts.embedded ?? Deno.build.standalone)) {
      Deno.statSync(built);
      return built;
    }
    bytes = Deno.readFileSync(built);
  } catch {
    throw new UserError(
      `the native library ${sharedLibraryName(spec.stem)} was not found at ${built}.\n` +
        `Build it with \`${spec.buildHint}\`, or point ${spec.envVar} at a built copy.`,
    );
  }
  return extractLibrary(spec.stem, bytes, opts.extractDir ?? layout.lib(resolveBaseDir()));
}

/** Opens the library described by `spec` with the given symbols. */
export function openLibrary<S extends Deno.ForeignLibraryInterface>(
  spec: LibrarySpec,
  symbols: S,
  opts: LocateOptions = {},
): Deno.DynamicLibrary<S> {
  return dlopenOrExplain(libraryPath(spec, opts), symbols, spec.buildHint);
}

/** Deno.dlopen with a UserError that names the file and how to rebuild it. */
export function dlopenOrExplain<S extends Deno.ForeignLibraryInterface>(
  path: string,
  symbols: S,
  buildHint: string,
): Deno.DynamicLibrary<S> {
  try {
    return Deno.dlopen(path, symbols);
  } catch (err) {
    throw new UserError(
      `could not load ${path}: ${(err as Error).message}\nRebuild it with \`${buildHint}\`.`,
    );
  }
}

/**
 * Writes `bytes` to `<dir>/<hash>-<library file name>` unless an identical copy is there, and returns its
 * path. The content hash keeps two program versions from sharing a copy; the temp file + fsync + rename
 * means a crash never leaves a half-written library under the final name.
 */
export function extractLibrary(stem: string, bytes: Uint8Array, dir: string): string {
  Deno.mkdirSync(dir, { recursive: true });
  const hash = fnv1a(bytes).toString(16).padStart(8, "0");
  const path = join(dir, `${hash}-${sharedLibraryName(stem)}`);
  try {
    if (Deno.statSync(path).size === bytes.length) return path;
  } catch { /* not there yet */ }
  const tmp = `${path}.${Deno.pid}.tmp`;
  try {
    const file = Deno.openSync(tmp, { write: true, create: true, truncate: true, mode: 0o755 });
    try {
      for (let off = 0; off < bytes.length;) off += file.writeSync(bytes.subarray(off));
      file.syncSync();
    } finally {
      file.close();
    }
    Deno.renameSync(tmp, path);
  } catch (err) {
    try {
      Deno.removeSync(tmp);
    } catch { /* never created */ }
    throw new UserError(`could not extract ${sharedLibraryName(stem)} to ${dir}: ${(err as Error).message}`);
  }
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
