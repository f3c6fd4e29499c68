// status.h — the result of a call into a CUDA library wrapper (cuBLASLt, cuDNN, the run-time loader):
// success, or a one-line message naming the call and the library's own status. Kernel launchers return
// cudaError_t instead; from_cuda() turns one into a Status with context.
#pragma once

#include <string>
#include <utility>

#include "common.cuh"

namespace nc::cuda {

struct Status {
  bool ok = true;
  std::string message;
  static Status success() { return {}; }
  static Status fail(std::string m) { return {false, std::move(m)}; }
  explicit operator bool() const { return ok; }
};

inline Status from_cuda(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::success();
  return Status::fail(std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

#define NC_STATUS_TRY(expr)               \
  do {                                    \
    ::nc::cuda::Status nc_st_ = (expr);   \
    if (!nc_st_.ok) return nc_st_;        \
  } while (0)

}  // namespace nc::cuda
