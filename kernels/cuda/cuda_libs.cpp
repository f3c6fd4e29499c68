// cuda_libs.cpp — the run-time loader of cuBLASLt and cuDNN (see cuda_libs.h).
#include "cuda_libs.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>

namespace cudnn_frontend {
// cudnn_frontend's dynamic-loading mode (NV_CUDNN_FRONTEND_USE_DYNAMIC_LOADING) resolves every cuDNN
// call through this handle, which load_cudnn() sets.
void* cudnn_dlhandle = nullptr;
}  // namespace cudnn_frontend

namespace nc::cuda {

namespace {

// dlopen of `soname` in each NANOCHAT_CUDA_LIBS folder, then through the loader's search. RTLD_GLOBAL
// so that cuDNN's engine libraries, which link libcublasLt by name, find the copy already loaded.
void* open_library(const char* soname, std::string* tried) {
  const char* dirs = std::getenv("NANOCHAT_CUDA_LIBS");
  std::string list = dirs ? dirs : "";
  size_t start = 0;
  while (start <= list.size() && !list.empty()) {
    const size_t end = list.find(':', start);
    const std::string dir = list.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!dir.empty()) {
      const std::string path = dir + "/" + soname;
      if (void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL)) return h;
      *tried += path + ", ";
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (void* h = dlopen(soname, RTLD_NOW | RTLD_GLOBAL)) return h;
  const char* err = dlerror();
  *tried += std::string("the system search (") + (err ? err : "not found") + ")";
  return nullptr;
}

std::string missing(const char* what, const char* soname, const char* wheel, const std::string& tried) {
  return std::string(what) + " (" + soname + ") could not be loaded; tried " + tried + ". Install CUDA 13, or `pip install " +
         wheel + "` (PyTorch cu130 brings it), and point NANOCHAT_CUDA_LIBS at the folder holding " + soname +
         " (e.g. .../site-packages/nvidia/cu13/lib)";
}

}  // namespace

void* open_runtime_library(const char* soname, std::string* tried) { return open_library(soname, tried); }

Status load_cublaslt(const CublasLtApi** out) {
  static CublasLtApi api{};
  static Status status;
  static std::once_flag once;
  std::call_once(once, [] {
    std::string tried;
    void* h = open_library("libcublasLt.so.13", &tried);
    if (!h) {
      status = Status::fail(missing("cuBLASLt", "libcublasLt.so.13", "nvidia-cublas", tried));
      return;
    }
    bool ok = true;
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name));
      if (!fn) {
        ok = false;
        status = Status::fail(std::string("libcublasLt.so.13 lacks ") + name + " (too old a cuBLAS?)");
      }
    };
    sym(api.create, "cublasLtCreate");
    sym(api.destroy, "cublasLtDestroy");
    sym(api.desc_create, "cublasLtMatmulDescCreate");
    sym(api.desc_destroy, "cublasLtMatmulDescDestroy");
    sym(api.desc_set, "cublasLtMatmulDescSetAttribute");
    sym(api.layout_create, "cublasLtMatrixLayoutCreate");
    sym(api.layout_destroy, "cublasLtMatrixLayoutDestroy");
    sym(api.layout_set, "cublasLtMatrixLayoutSetAttribute");
    sym(api.pref_create, "cublasLtMatmulPreferenceCreate");
    sym(api.pref_destroy, "cublasLtMatmulPreferenceDestroy");
    sym(api.pref_set, "cublasLtMatmulPreferenceSetAttribute");
    sym(api.heuristic, "cublasLtMatmulAlgoGetHeuristic");
    sym(api.matmul, "cublasLtMatmul");
    sym(api.status_string, "cublasLtGetStatusString");
    if (ok) status = Status::success();
  });
  *out = status.ok ? &api : nullptr;
  return status;
}

Status load_cudnn() {
  static Status status;
  static std::once_flag once;
  std::call_once(once, [] {
    // cuDNN's engine libraries link libcublasLt.so.13 by name and look only next to themselves, which in
    // the pip layout is another folder: load it first, globally, so the name resolves to it.
    const CublasLtApi* lt = nullptr;
    (void)load_cublaslt(&lt);
    std::string tried;
    void* h = open_library("libcudnn.so.9", &tried);
    if (!h) {
      status = Status::fail(missing("cuDNN", "libcudnn.so.9", "nvidia-cudnn-cu13", tried));
      return;
    }
    cudnn_frontend::cudnn_dlhandle = h;
    status = Status::success();
  });
  return status;
}

}  // namespace nc::cuda
