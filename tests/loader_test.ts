// The native-library loader's compiled-program path, exercised without `denort`: an embedded library
// (readable, but not by dlopen) is extracted once to a content-hashed file under the extract folder,
// written through a temp file, reused on the next start, replaced when a copy of the wrong size sits
// under its name, and opened from there; a missing library is a UserError with the build command. The
// release binaries (.github/workflows/release.yml) embed only the CPU compute library: their first run with
// the default --device auto is reproduced too (no CUDA backend inside, so the CPU one is extracted and used).
import { assert, assertEquals, assertThrows } from "@std/assert";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { COMPUTE_LIB_ENV, computeLibrary } from "../ffi/compute.ts";
import { computeSymbols } from "../ffi/compute_symbols.ts";
import {
  extractLibrary,
  libraryPath,
  type LibrarySpec,
  openLibrary,
  sharedLibraryName,
} from "../ffi/loader.ts";
import { UserError } from "../src/common/errors.ts";
import { withTempDir } from "./helpers.ts";

const spec: LibrarySpec = {
  stem: "nanochat_cpu",
  envVar: "NANOCHAT_TEST_UNSET_LIB",
  builtUrl: new URL("../kernels/build/libnanochat_cpu.so", import.meta.url),
  buildHint: "deno task build",
};

Deno.test("an embedded library is extracted once under a content hash, then opened from the copy", () =>
  withTempDir((dir) => {
    const built = fileURLToPath(spec.builtUrl);
    assertEquals(libraryPath(spec, { embedded: false }), built); // running from source: the build itself
    const path = libraryPath(spec, { embedded: true, extractDir: dir });
    assert(path.startsWith(dir) && /\/[0-9a-f]{8}-libnanochat_cpu\.so$/.test(path), path);
    assertEquals(Deno.readFileSync(path), Deno.readFileSync(built));
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), [path.slice(dir.length + 1)]); // no temp left
    const mtime = Deno.statSync(path).mtime!.getTime();
    assertEquals(libraryPath(spec, { embedded: true, extractDir: dir }), path); // reused, not rewritten
    assertEquals(Deno.statSync(path).mtime!.getTime(), mtime);
    // a truncated copy under the final name (an interrupted older writer) is replaced
    Deno.writeFileSync(path, new Uint8Array(10));
    assertEquals(libraryPath(spec, { embedded: true, extractDir: dir }), path);
    assertEquals(Deno.statSync(path).size, Deno.statSync(built).size);
    const lib = openLibrary(spec, computeSymbols, { embedded: true, extractDir: dir });
    try {
      assertEquals(lib.symbols.nc_abi_version(), 2);
    } finally {
      lib.close();
    }
  }));

Deno.test("different bytes get a different extracted name", () =>
  withTempDir((dir) => {
    const a = extractLibrary("x", Uint8Array.of(1, 2, 3), dir);
    const b = extractLibrary("x", Uint8Array.of(1, 2, 4), dir);
    assert(a !== b, a);
    assertEquals(Deno.readFileSync(b), Uint8Array.of(1, 2, 4));
  }));

Deno.test("a missing library is a UserError naming the build command; the env override wins", () =>
  withTempDir((dir) => {
    const missing = { ...spec, builtUrl: new URL(`file://${join(dir, "libnope.so")}`) };
    for (const embedded of [false, true]) {
      const err = assertThrows(() => libraryPath(missing, { embedded, extractDir: dir }), UserError);
      assert(
        err.message.includes("deno task build") && err.message.includes("NANOCHAT_TEST_UNSET_LIB"),
        err.message,
      );
    }
    Deno.env.set("NANOCHAT_TEST_UNSET_LIB", "/some/where/lib.so");
    try {
      assertEquals(libraryPath(missing, { embedded: true, extractDir: dir }), "/some/where/lib.so");
    } finally {
      Deno.env.delete("NANOCHAT_TEST_UNSET_LIB");
    }
  }));

Deno.test("a compiled program's first run with --device auto: no embedded CUDA backend, the CPU one is extracted", () =>
  withTempDir((dir) => {
    const override = Deno.env.get(COMPUTE_LIB_ENV);
    Deno.env.delete(COMPUTE_LIB_ENV);
    try {
      const lib = computeLibrary("auto", { embedded: true, extractDir: dir });
      // whichever backend serves, it runs from its extracted copy, never from the build folder
      assert(lib.path.startsWith(dir), lib.path);
      // a CUDA backend serves only on a machine with a CUDA build and a GPU; everywhere else the CPU one
      if (lib.backend !== "cuda") {
        assertEquals(lib.backend, "cpu");
        assert(/[0-9a-f]{8}-libnanochat_cpu\.so$/.test(lib.path), lib.path);
        assertEquals(Deno.readFileSync(lib.path), Deno.readFileSync(fileURLToPath(spec.builtUrl)));
        assert(lib.devices.length >= 1, "the CPU backend lists its device");
      }
      const names = [...Deno.readDirSync(dir)].map((e) => e.name);
      assert(names.every((n) => !n.endsWith(".tmp")), names.join(", "));
    } finally {
      if (override !== undefined) Deno.env.set(COMPUTE_LIB_ENV, override);
    }
  }));

Deno.test("`deno task compile` embeds exactly the libraries the loaders open", () => {
  // scripts/compile.ts runs on import, so its lists are read from its text: every quoted library path
  const text = Deno.readTextFileSync(new URL("../scripts/compile.ts", import.meta.url));
  const embedded = [...text.matchAll(/"([\w/.-]+\.(?:so|dylib|dll))"/g)].map((m) => m[1]).sort();
  const opened = [
    `ffi/bpe/target/release/${sharedLibraryName("nanochat_bpe")}`, // ffi/bpe.ts
    `kernels/build/${sharedLibraryName("nanochat_cpu")}`, // ffi/compute.ts, the cpu backend
    `kernels/build/${sharedLibraryName("nanochat_cuda")}`, // ffi/compute.ts, the cuda backend (when built)
  ].sort();
  assertEquals(embedded, opened);
});
