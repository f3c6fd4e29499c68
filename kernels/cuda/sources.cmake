# sources.cmake — the CUDA sources, listed once for the two builds that compile them: kernels/cuda
# (nvcc, for the GPU) and kernels/emu (g++, for the CPU emulator). Paths are relative to kernels/cuda.
set(NC_CUDA_KERNEL_SOURCES
  matmul_validate.cpp
)
# Test cases that run in both builds (under the emulator in CI, on a GPU in device_check.sh).
set(NC_CUDA_TEST_SOURCES
  tests/check_main.cpp
  tests/test_execution_model.cu
)
