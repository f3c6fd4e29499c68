// Where --device cuda finds cuBLASLt and cuDNN: the pip wheels' folders (nvidia/cu13/lib,
// nvidia/cudnn/lib) in a virtualenv's site-packages are found and put into NANOCHAT_CUDA_LIBS, a value
// the user set is kept, and a tree without the libraries gives nothing.
import { assertEquals } from "@std/assert";
import { join } from "node:path";
import { CUDA_LIBS_ENV, ensureCudaLibsEnv, findPipCudaLibDirs } from "../ffi/cuda_libs.ts";
import { withTempDir } from "./helpers.ts";

/** Runs `fn` with the given variables set (undefined = unset), restoring them afterwards. */
async function withEnv(
  vars: Record<string, string | undefined>,
  fn: () => Promise<void> | void,
): Promise<void> {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) x === undefined ? Deno.env.delete(k) : Deno.env.set(k, x);
  };
  apply(vars);
  try {
    await fn();
  } finally {
    apply(before);
  }
}

Deno.test("the pip wheels' CUDA library folders are found in a virtualenv and exported", () =>
  withTempDir(async (venv) => {
    const sp = join(venv, "lib", "python3.12", "site-packages");
    const cu13 = join(sp, "nvidia", "cu13", "lib"), cudnn = join(sp, "nvidia", "cudnn", "lib");
    await withEnv(
      { VIRTUAL_ENV: venv, CONDA_PREFIX: undefined, HOME: venv, [CUDA_LIBS_ENV]: undefined },
      async () => {
        assertEquals(findPipCudaLibDirs().filter((d) => d.startsWith(venv)), []); // nothing there yet
        await Deno.mkdir(cu13, { recursive: true });
        await Deno.mkdir(cudnn, { recursive: true });
        await Deno.writeFile(join(cu13, "libcublasLt.so.13"), new Uint8Array());
        await Deno.writeFile(join(cudnn, "libcudnn.so.9"), new Uint8Array());
        const found = findPipCudaLibDirs().filter((d) => d.startsWith(venv));
        assertEquals(found, [cu13, cudnn]);
        const value = ensureCudaLibsEnv();
        assertEquals(value.split(":").slice(0, 2), [cu13, cudnn]);
        assertEquals(Deno.env.get(CUDA_LIBS_ENV), value);
      },
    );
    await withEnv({ VIRTUAL_ENV: venv, [CUDA_LIBS_ENV]: "/opt/my/cuda/lib" }, () => {
      assertEquals(ensureCudaLibsEnv(), "/opt/my/cuda/lib"); // the user's choice stays
    });
  }));
