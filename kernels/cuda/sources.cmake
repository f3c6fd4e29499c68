# sources.cmake — the CUDA sources, listed once for the two builds that compile them: kernels/cuda
# (nvcc, for the GPU) and kernels/emu (g++, for the CPU emulator). Paths are relative to kernels/cuda.
set(NC_CUDA_KERNEL_SOURCES
  adamw.cu
  attention.cu
  attention_path.cpp
  convert.cu
  embedding.cu
  grad_norm.cu
  kvcache.cu
  matmul_validate.cpp
  muon.cu
  relu2.cu
  rmsnorm.cu
  rope_qknorm.cu
  sampling.cu
  softcap_ce.cu
)
# Test cases that run in both builds (under the emulator in CI, on a GPU in device_check.sh).
set(NC_CUDA_TEST_SOURCES
  tests/check_main.cpp
  tests/test_execution_model.cu
  tests/test_layers.cu
  tests/test_matmul.cu
  tests/test_head.cu
  tests/test_optim.cu
  tests/test_attention.cu
)
# The backend library behind the C ABI (libnanochat_cuda.so; libnanochat_cuda_emu.so under the emulator).
set(NC_CUDA_BACKEND_SOURCES
  backend/comm.cpp
  backend/context.cpp
  backend/eval.cpp
  backend/kvcache.cpp
  backend/model.cpp
  backend/nccl_optim.cpp
  backend/optimizer.cpp
  backend/passes.cpp
  backend/train.cpp
)
