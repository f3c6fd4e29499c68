// Where the CUDA backend finds cuBLASLt (libcublasLt.so.13) and cuDNN (libcudnn.so.9), which it loads at
// run time (kernels/cuda/cuda_libs.cpp: every folder of NANOCHAT_CUDA_LIBS, then the system's search).
// When NANOCHAT_CUDA_LIBS is not set, the folders of the pip wheels a PyTorch cu130 installation brings
// (site-packages/nvidia/cu13/lib, nvidia/cudnn/lib) are looked for in the usual Python locations and
// put there, so a machine with PyTorch needs no CUDA toolkit. The CUDA runtime itself is linked into
// the library; the driver (libcuda.so.1) comes with the GPU's driver installation.
import { join } from "node:path";

/** The variable the CUDA backend reads (colon-separated folders). */
export const CUDA_LIBS_ENV = "NANOCHAT_CUDA_LIBS";

/** The libraries the backend loads, and the pip package bringing each. */
export const CUDA_RUNTIME_LIBS = [
  { soname: "libcublasLt.so.13", wheel: "nvidia-cublas (PyTorch cu130 brings it)", sub: "nvidia/cu13/lib" },
  { soname: "libcudnn.so.9", wheel: "nvidia-cudnn-cu13", sub: "nvidia/cudnn/lib" },
] as const;

/** site-packages folders to look in: the active virtualenv, the user's, the system's. */
function sitePackages(): string[] {
  const roots: string[] = [];
  const venv = Deno.env.get("VIRTUAL_ENV") ?? Deno.env.get("CONDA_PREFIX");
  if (venv) roots.push(join(venv, "lib"));
  const home = Deno.env.get("HOME");
  if (home) roots.push(join(home, ".local", "lib"));
  roots.push("/usr/local/lib", "/usr/lib", "/opt/conda/lib");
  const out: string[] = [];
  for (const root of roots) {
    try {
      for (const e of Deno.readDirSync(root)) {
        if (!e.isDirectory || !e.name.startsWith("python3")) continue;
        for (const leaf of ["site-packages", "dist-packages"]) out.push(join(root, e.name, leaf));
      }
    } catch {
      // a root that does not exist has nothing to offer
    }
  }
  return out;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Folders holding each runtime library in the pip layout (may be empty). */
export function findPipCudaLibDirs(): string[] {
  const dirs: string[] = [];
  for (const sp of sitePackages()) {
    for (const lib of CUDA_RUNTIME_LIBS) {
      const dir = join(sp, lib.sub);
      if (!dirs.includes(dir) && exists(join(dir, lib.soname))) dirs.push(dir);
    }
  }
  return dirs;
}

/** Sets NANOCHAT_CUDA_LIBS to the pip folders found, unless the user set it; returns its value. */
export function ensureCudaLibsEnv(): string {
  const set = Deno.env.get(CUDA_LIBS_ENV);
  if (set) return set;
  const dirs = findPipCudaLibDirs().join(":");
  if (dirs) Deno.env.set(CUDA_LIBS_ENV, dirs);
  return dirs;
}
