// clock.cpp — the wall clock and the calling thread's profile target that the layer kernels' GEMM
// accounting reads (gemm.h). In its own file so the layer kernels link without the backend's ABI
// functions (the CUDA emulator uses them as its CPU routes).
#include <chrono>

#include "internal.h"

namespace nc {

thread_local NcProfile* tl_profile = nullptr;

double wall_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

}  // namespace nc
