// cuda_libs.h — cuBLASLt and cuDNN are loaded at run time (dlopen), not linked: the library then loads
// on machines without them and says what is missing, and it uses whichever copy is there — the
// system's CUDA 13, or the nvidia-* wheels a PyTorch (cu130) installation brings. Search order for
// each library: every folder in NANOCHAT_CUDA_LIBS (colon-separated), then the dynamic loader's own
// search (LD_LIBRARY_PATH, the system folders). The CUDA runtime itself is linked statically.
// GPU build only; the emulator routes the same wrappers to CPU code instead.
#pragma once

#include <cublasLt.h>

#include <string>

#include "status.h"

namespace nc::cuda {

// The cuBLASLt functions matmul_cublaslt.cpp calls, resolved from libcublasLt.so.13.
struct CublasLtApi {
  decltype(&cublasLtCreate) create;
  decltype(&cublasLtDestroy) destroy;
  decltype(&cublasLtMatmulDescCreate) desc_create;
  decltype(&cublasLtMatmulDescDestroy) desc_destroy;
  decltype(&cublasLtMatmulDescSetAttribute) desc_set;
  decltype(&cublasLtMatrixLayoutCreate) layout_create;
  decltype(&cublasLtMatrixLayoutDestroy) layout_destroy;
  decltype(&cublasLtMatrixLayoutSetAttribute) layout_set;
  decltype(&cublasLtMatmulPreferenceCreate) pref_create;
  decltype(&cublasLtMatmulPreferenceDestroy) pref_destroy;
  decltype(&cublasLtMatmulPreferenceSetAttribute) pref_set;
  decltype(&cublasLtMatmulAlgoGetHeuristic) heuristic;
  decltype(&cublasLtMatmul) matmul;
  decltype(&cublasLtGetStatusString) status_string;
};

// Loads libcublasLt once per process (thread-safe); the error names the library and how to get it.
Status load_cublaslt(const CublasLtApi** out);
// Loads libcudnn.so.9 once per process and hands its handle to cudnn_frontend's dynamic loading.
Status load_cudnn();
// dlopen of `soname` with the search order above (for the other run-time libraries: backend/nccl_comm.cpp's
// NCCL); null on failure, with what was tried appended to *tried.
void* open_runtime_library(const char* soname, std::string* tried);

}  // namespace nc::cuda
