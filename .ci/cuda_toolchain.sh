#!/usr/bin/env bash
# CUDA 13.0 toolchain for kernels/cuda: nvcc, the CUDA runtime and CCCL (CUB) headers, the cuBLAS,
# cuDNN and cudnn-frontend headers. Uses the machine's CUDA when it has a complete 13.0 one; otherwise
# unpacks pinned PyPI wheels (fetched with pip, the registry's own client) into a cache folder outside
# the repository, where kernels/cuda/CMakeLists.txt finds it without being told:
#   ${NANOCHAT_BUILD_CACHE:-$HOME/.cache/nanochat-build}/cuda-13.0/{cu13,cudnn,cudnn_frontend}
# Only what the build needs is unpacked: the compiler, headers and libcudart_static.a. cuBLASLt and
# cuDNN are loaded at run time (dlopen) from the system or the nvidia-* wheels PyTorch brings, so their
# large shared libraries are not needed to build. Idempotent: a second run checks a stamp and returns.
# Prints where the toolchain is and, after an install, how long it took.
set -euo pipefail

CACHE_ROOT="${NANOCHAT_BUILD_CACHE:-$HOME/.cache/nanochat-build}"
DEST="$CACHE_ROOT/cuda-13.0"
# Pins: CUDA 13.0 (the GPUs' driver 580 runs 13.0; nvcc's helper wheels must match it exactly, pip
# would otherwise pull the newest crt/nvvm), cuBLAS 13.1 and cuDNN 9.19 as PyTorch 2.11 cu130 pulls.
WHEELS=(
  nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88
  nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85
  nvidia-cublas==13.1.0.3 nvidia-cudnn-cu13==9.19.0.56 nvidia-cudnn-frontend==1.18.0
)
STAMP="$DEST/.complete-$(printf '%s\n' "${WHEELS[@]}" | cksum | cut -d' ' -f1)"

# A system toolkit is used when nvcc 13.0 and every header the build includes are there.
system_cuda() {
  local nvcc root
  nvcc=$(command -v nvcc 2>/dev/null || true)
  [ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc
  [ -n "$nvcc" ] || return 1
  "$nvcc" --version 2>/dev/null | grep -q "release 13\.0" || return 1
  root=$(cd "$(dirname "$nvcc")/.." && pwd)
  for h in cuda_runtime.h cublasLt.h cub/cub.cuh cudnn.h cudnn_frontend.h; do
    [ -e "$root/include/$h" ] || [ -e "$root/include/cccl/$h" ] || return 1
  done
  echo "$root"
}

if root=$(system_cuda); then
  echo "cuda toolchain: system CUDA 13.0 at $root"
  exit 0
fi
if [ -e "$STAMP" ]; then
  echo "cuda toolchain: $DEST (cached)"
  exit 0
fi

start=$(date +%s)
if ! python3 -m pip --version >/dev/null 2>&1; then
  echo "installing python3-pip from Debian (to fetch the CUDA wheels)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
fi
mkdir -p "$CACHE_ROOT"
work=$(mktemp -d "$CACHE_ROOT/.cuda-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "cuda toolchain: downloading ${#WHEELS[@]} pinned wheels (CUDA 13.0) into $work"
python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$work/wheels" "${WHEELS[@]}"

# Unpack into a staging folder, then move it into place: an interrupted run leaves no half toolchain.
stage="$work/cuda-13.0"
mkdir -p "$stage"
# unpack WHEEL-GLOB PREFIX...: extracts the members under the given prefixes (keeping file modes).
unpack() {
  python3 - "$stage/raw" "$work"/wheels/$1 "${@:2}" <<'PY'
import os, sys, zipfile
dest, wheel, prefixes = sys.argv[1], sys.argv[2], tuple(sys.argv[3:])
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if info.filename.startswith(prefixes) and not info.is_dir():
            path = z.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(path, mode)
PY
}
unpack 'nvidia_cuda_nvcc-*.whl' nvidia/cu13/
unpack 'nvidia_cuda_crt-*.whl' nvidia/cu13/
unpack 'nvidia_nvvm-*.whl' nvidia/cu13/
unpack 'nvidia_cuda_runtime-*.whl' nvidia/cu13/
unpack 'nvidia_cuda_cccl-*.whl' nvidia/cu13/
unpack 'nvidia_cublas-*.whl' nvidia/cu13/include/
unpack 'nvidia_cudnn_cu13-*.whl' nvidia/cudnn/include/
unpack 'nvidia_cudnn_frontend-*.whl' include/
mv "$stage/raw/nvidia/cu13" "$stage/cu13"
mv "$stage/raw/nvidia/cudnn" "$stage/cudnn"
mkdir -p "$stage/cudnn_frontend"
mv "$stage/raw/include" "$stage/cudnn_frontend/include"
rm -rf "$stage/raw"
# nvcc's profile looks for lib64 next to lib on x86-64 targets, and CMake's toolkit search for an
# unversioned libcudart; the wheels ship neither name.
ln -s lib "$stage/cu13/lib64"
ln -s libcudart.so.13 "$stage/cu13/lib/libcudart.so"
"$stage/cu13/bin/nvcc" --version | tail -2

rm -rf "$DEST"
mv "$stage" "$DEST"
touch "$STAMP"
echo "cuda toolchain: installed into $DEST in $(($(date +%s) - start)) s"
