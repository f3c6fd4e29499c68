#!/usr/bin/env bash
# device_check.sh — the CUDA backend's check on a real GPU (one H200 in the plan: nvcc 13.0, cmake,
# ninja and PyTorch 2.11 cu130 with its pip cuBLAS/cuDNN present; no package registry, no Deno). It
# builds kernels/cuda for sm_90 there (the kernels, libnanochat_cuda.so, a cpu backend library as the
# reference, the harnesses), then runs, writing everything into $OUT (the last lines printed are the
# summary):
#   1. nanochat_cuda_tests      the kernel parity suite (the cases CI runs under the emulator)
#   2. nanochat_cuda_selftest   the backend library against the cpu backend through the C ABI (what
#                               `nanochat gpu-selftest` checks), dumping its weights/batch/outputs
#   3. torch_compare.py         that dump against PyTorch fp32 and bf16 autocast on the same weights
#   4. nanochat_cuda_bench      kernel micro-benchmark against the floors of BUDGET.md
#   5. nanochat_cuda_selftest --bench   training tok/s, MFU and step time at d12 and d20 (B 32, T 2048)
# Budget: the first run is meant to stay under 6 minutes (build ~2.5, checks ~1, benches ~2).
#
#   bash kernels/cuda/device_check.sh --prepare   # here, before the device call: copies the
#       cudnn_frontend headers (header-only, 2.6 MB) from the toolchain cache into kernels/cuda/.deps,
#       which the device call must carry (it is git-ignored): carry ["kernels/cuda/.deps"]
#   bash kernels/cuda/device_check.sh             # on the GPU machine, from the repository root
#   bash kernels/cuda/device_check.sh --dry-run   # here: checks the script's inputs, prints the plan
#
# Environment: OUT (results; default kernels/cuda/build-check/out), NC_CUDA_ARCH (default 90), NC_JOBS,
# NC_BENCH_DEPTHS (default 12,20), NC_SKIP_BENCH=1 (checks only).
set -uo pipefail
cd "$(dirname "$0")/../.."
DEPS=kernels/cuda/.deps
BUILD_DEFAULT=kernels/cuda/build-check

if [ "${1:-}" = "--prepare" ]; then
  cache="${NANOCHAT_BUILD_CACHE:-$HOME/.cache/nanochat-build}/cuda-13.0"
  [ -f "$cache/cudnn_frontend/include/cudnn_frontend.h" ] || bash .ci/cuda_toolchain.sh
  rm -rf "$DEPS" && mkdir -p "$DEPS/cudnn_frontend"
  cp -r "$cache/cudnn_frontend/include" "$DEPS/cudnn_frontend/include"
  echo "prepared $DEPS ($(du -sh "$DEPS" | cut -f1)); carry it with the device call"
  exit 0
fi
if [ "${1:-}" = "--dry-run" ]; then
  ok=1
  for f in kernels/cuda/CMakeLists.txt kernels/cuda/tests/selftest_main.cpp kernels/cuda/tests/torch_compare.py \
    "$DEPS/cudnn_frontend/include/cudnn_frontend.h"; do
    [ -e "$f" ] && echo "have $f" || { echo "MISSING $f"; ok=0; }
  done
  bash -n "$0" && echo "syntax ok"
  echo "plan: configure + build ($BUILD_DEFAULT), nanochat_cuda_tests, nanochat_cuda_selftest --dump, torch_compare.py,"
  echo "      nanochat_cuda_bench, nanochat_cuda_selftest --bench --depths ${NC_BENCH_DEPTHS:-12,20}"
  [ "$ok" = 1 ]
  exit $?
fi

BUILD=$BUILD_DEFAULT
OUT="${OUT:-$PWD/$BUILD/out}"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
start=$(date +%s)
say() { echo "[$(($(date +%s) - start))s] $*" | tee -a "$SUMMARY"; }
fail() {
  say "FAILED: $*"
  exit 1
}

# ---- the machine --------------------------------------------------------------------------------
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || fail "nvidia-smi does not run: no GPU driver here"
say "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)"
NVCC=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null) || fail "no nvcc on PATH or in /usr/local/cuda"
say "nvcc: $("$NVCC" --version | grep -o 'release [0-9.]*')  ($NVCC)"

# Headers and libraries of the pip wheels PyTorch brings (nvidia/cu13 for cuBLAS, nvidia/cudnn).
read -r PIP_CU13 PIP_CUDNN < <(python3 - <<'PY' 2>/dev/null
import importlib.util
def where(name):
    spec = importlib.util.find_spec(name)
    return spec.submodule_search_locations[0] if spec and spec.submodule_search_locations else "-"
print(where("nvidia.cu13"), where("nvidia.cudnn"))
PY
)
say "pip CUDA libraries: ${PIP_CU13:--}  ${PIP_CUDNN:--}"
CUDA_ROOT=$(cd "$(dirname "$NVCC")/.." && pwd)
pick() { for d in "$@"; do [ -n "$d" ] && [ -e "$d/$HEADER" ] && { echo "$d"; return 0; }; done; return 1; }
HEADER=cublasLt.h
CUBLAS_INC=$(pick "$CUDA_ROOT/include" "$PIP_CU13/include") || fail "cublasLt.h not found (toolkit or pip nvidia-cublas)"
HEADER=cudnn.h
CUDNN_INC=$(pick "$CUDA_ROOT/include" "$PIP_CUDNN/include" /usr/include) || fail "cudnn.h not found (pip nvidia-cudnn-cu13)"
HEADER=cudnn_frontend.h
FE_INC=$(pick "$PWD/$DEPS/cudnn_frontend/include") ||
  fail "cudnn_frontend headers missing: run 'bash kernels/cuda/device_check.sh --prepare' before the call and carry $DEPS"
export NANOCHAT_CUDA_LIBS="${PIP_CU13}/lib:${PIP_CUDNN}/lib:${NANOCHAT_CUDA_LIBS:-}"
# cuDNN's engines load NVRTC and the CUDA runtime by name: let the loader find PyTorch's copies too.
export LD_LIBRARY_PATH="${PIP_CU13}/lib:${PIP_CUDNN}/lib:${LD_LIBRARY_PATH:-}"

# ---- build (sm_90 only here: one architecture is all this GPU runs) -------------------------------
ARCH="${NC_CUDA_ARCH:-90}"
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S kernels/cuda -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DNC_CUDA_ROOT="$CUDA_ROOT" \
  "-DNC_CUDA_GENCODE=-gencode=arch=compute_$ARCH,code=sm_$ARCH" -DNC_CUBLASLT_INCLUDE="$CUBLAS_INC" \
  -DNC_CUDNN_INCLUDE="$CUDNN_INC" -DNC_CUDNN_FRONTEND_INCLUDE="$FE_INC" >"$OUT/configure.log" 2>&1 ||
  { tail -20 "$OUT/configure.log"; fail "cmake configure (log: configure.log)"; }
b0=$(date +%s)
cmake --build "$BUILD" -j "${NC_JOBS:-$(nproc)}" >"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; fail "build (log: build.log)"; }
say "build: $(($(date +%s) - b0)) s (sm_$ARCH)"

# ---- parity suite and benchmark -------------------------------------------------------------------
t0=$(date +%s)
timeout 240 "$BUILD/nanochat_cuda_tests" --json "$OUT/tests.json" >"$OUT/tests.txt" 2>&1
tests_rc=$?
say "tests: $(tail -1 "$OUT/tests.txt") (exit $tests_rc, $(($(date +%s) - t0)) s)"
grep -E '^\[FAILED\]|^    ' "$OUT/tests.txt" | head -40 | tee -a "$SUMMARY"
# ---- the backend library against the cpu backend, then against PyTorch ----------------------------
t0=$(date +%s)
timeout 120 "$BUILD/nanochat_cuda_selftest" --cuda "$BUILD/libnanochat_cuda.so" --cpu "$BUILD/libnanochat_cpu.so" \
  --dump "$OUT/selftest_dump" >"$OUT/selftest.txt" 2>&1
selftest_rc=$?
say "selftest: $(tail -1 "$OUT/selftest.txt") (exit $selftest_rc, $(($(date +%s) - t0)) s)"
cat "$OUT/selftest.txt" >>"$SUMMARY"
t0=$(date +%s)
torch_rc=0
if python3 -c "import torch" 2>/dev/null; then
  timeout 120 python3 kernels/cuda/tests/torch_compare.py "$OUT/selftest_dump" >"$OUT/torch_compare.txt" 2>&1
  torch_rc=$?
  say "torch comparison: $(tail -1 "$OUT/torch_compare.txt") (exit $torch_rc, $(($(date +%s) - t0)) s)"
  cat "$OUT/torch_compare.txt" >>"$SUMMARY"
else
  say "torch comparison: skipped (no PyTorch here)"
fi

# ---- benchmarks ---------------------------------------------------------------------------------
bench_rc=0
train_rc=0
if [ "${NC_SKIP_BENCH:-0}" != 1 ]; then
  t0=$(date +%s)
  timeout 240 "$BUILD/nanochat_cuda_bench" --json "$OUT/bench.json" >"$OUT/bench.txt" 2>&1
  bench_rc=$?
  say "kernel bench: exit $bench_rc, $(($(date +%s) - t0)) s"
  cat "$OUT/bench.txt" >>"$SUMMARY"
  t0=$(date +%s)
  timeout 240 "$BUILD/nanochat_cuda_selftest" --cuda "$BUILD/libnanochat_cuda.so" --bench \
    --depths "${NC_BENCH_DEPTHS:-12,20}" >"$OUT/train_bench.txt" 2>&1
  train_rc=$?
  say "training bench: exit $train_rc, $(($(date +%s) - t0)) s"
  cat "$OUT/train_bench.txt" >>"$SUMMARY"
fi
echo "---- tests ----"
grep -E '^\[' "$OUT/tests.txt" | sed 's/^\(.\{150\}\).*/\1/'
echo "---- selftest ----"
cat "$OUT/selftest.txt"
[ -f "$OUT/torch_compare.txt" ] && { echo "---- torch ----"; cat "$OUT/torch_compare.txt"; }
[ -f "$OUT/bench.txt" ] && { echo "---- kernel bench ----"; cat "$OUT/bench.txt"; }
[ -f "$OUT/train_bench.txt" ] && { echo "---- training bench ----"; cat "$OUT/train_bench.txt"; }
say "total $(($(date +%s) - start)) s; results in $OUT"
[ "$tests_rc" -eq 0 ] && [ "$selftest_rc" -eq 0 ] && [ "$torch_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ] &&
  [ "$train_rc" -eq 0 ]
