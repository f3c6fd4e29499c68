// attention_cudnn.cpp — attention_cudnn.h on the GPU: cudnn_frontend SDPA graphs (forward with
// log-sum-exp stats, backward with set_deterministic_algorithm), bf16 in/out, fp32 intermediates,
// read in place from the qkv buffer through strides (no permutes). A graph is built once per shape and
// layout (building is the slow part: milliseconds to seconds) and cached; the workspace grows to the
// largest graph's need. cuDNN is loaded at run time (cuda_libs.h) through the frontend's
// dynamic-loading mode. Kept in its own file because the frontend headers compile slowly.
#define NV_CUDNN_FRONTEND_USE_DYNAMIC_LOADING
#define CUDNN_FRONTEND_SKIP_JSON_LIB
#include "attention_cudnn.h"

#include <cudnn_frontend.h>

#include <array>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <string>

#include "cuda_libs.h"

namespace fe = cudnn_frontend;

namespace nc::cuda {

namespace {

enum Uid : int64_t { kQ = 1, kK, kV, kO, kStats, kDO, kDQ, kDK, kDV };

struct CachedGraph {
  std::shared_ptr<fe::graph::Graph> graph;
  int64_t workspace = 0;
};

Status fe_check(fe::error_t e, const char* what) {
  if (e.is_good()) return Status::success();
  return Status::fail(std::string("cuDNN ") + what + ": " + e.get_message());
}

std::shared_ptr<fe::graph::Tensor_attributes> bhsd(fe::graph::Graph& g, const char* name, int64_t uid, int64_t B,
                                                   int64_t heads, int64_t T, int64_t D, int64_t ld) {
  return g.tensor(fe::graph::Tensor_attributes()
                      .set_name(name)
                      .set_uid(uid)
                      .set_dim({B, heads, T, D})
                      .set_stride({T * ld, D, ld, 1}));
}

void set_bhsd(const std::shared_ptr<fe::graph::Tensor_attributes>& t, int64_t uid, int64_t B, int64_t heads,
              int64_t T, int64_t D, int64_t ld) {
  t->set_output(true).set_uid(uid).set_dim({B, heads, T, D}).set_stride({T * ld, D, ld, 1});
}

std::shared_ptr<fe::graph::Tensor_attributes> stats_tensor(fe::graph::Graph& g, const AttnDims& s) {
  return g.tensor(fe::graph::Tensor_attributes()
                      .set_name("stats")
                      .set_uid(kStats)
                      .set_dim({s.B, s.H, s.Tq, 1})
                      .set_stride({s.H * s.Tq, s.Tq, 1, 1})
                      .set_data_type(fe::DataType_t::FLOAT));
}

Status finish(fe::graph::Graph& g, cudnnHandle_t h, CachedGraph* out) {
  NC_STATUS_TRY(fe_check(g.validate(), "graph validation"));
  NC_STATUS_TRY(fe_check(g.build_operation_graph(h), "operation graph"));
  NC_STATUS_TRY(fe_check(g.create_execution_plans({fe::HeurMode_t::A}), "execution plans"));
  NC_STATUS_TRY(fe_check(g.check_support(h), "support check"));
  NC_STATUS_TRY(fe_check(g.build_plans(h), "plan build"));
  NC_STATUS_TRY(fe_check(g.get_workspace_size(out->workspace), "workspace size"));
  return Status::success();
}

}  // namespace

}  // namespace nc::cuda

struct nc::cuda::CudnnAttention {
  cudnnHandle_t handle = nullptr;
  std::map<std::array<int64_t, 10>, CachedGraph> graphs;
  void* workspace = nullptr;
  int64_t workspace_bytes = 0;
};

namespace nc::cuda {

namespace {

Status ensure_workspace(CudnnAttention* a, int64_t bytes) {
  if (bytes <= a->workspace_bytes) return Status::success();
  cudaFree(a->workspace);
  a->workspace = nullptr;
  a->workspace_bytes = 0;
  NC_STATUS_TRY(from_cuda(cudaMalloc(&a->workspace, (size_t)bytes), "cuDNN attention workspace"));
  a->workspace_bytes = bytes;
  return Status::success();
}

// The graph for `key`, built by build(graph, q, k, v) on first use (q, k, v: the input tensors, in the
// qkv buffer with stride ld), then cached; the workspace grows to what it needs.
template <typename Build>
Status cached_graph(CudnnAttention* a, const std::array<int64_t, 10>& key, const AttnDims& s, int64_t ld, Build build,
                    CachedGraph** out) {
  auto it = a->graphs.find(key);
  if (it == a->graphs.end()) {
    CachedGraph cg;
    cg.graph = std::make_shared<fe::graph::Graph>();
    fe::graph::Graph& g = *cg.graph;
    g.set_io_data_type(fe::DataType_t::BFLOAT16)
        .set_intermediate_data_type(fe::DataType_t::FLOAT)
        .set_compute_data_type(fe::DataType_t::FLOAT);
    build(g, bhsd(g, "q", kQ, s.B, s.H, s.Tq, s.D, ld), bhsd(g, "k", kK, s.B, s.Hkv, s.Tq, s.D, ld),
          bhsd(g, "v", kV, s.B, s.Hkv, s.Tq, s.D, ld));
    NC_STATUS_TRY(finish(g, a->handle, &cg));
    it = a->graphs.emplace(key, cg).first;
  }
  *out = &it->second;
  return ensure_workspace(a, it->second.workspace);
}

using TensorPtr = std::shared_ptr<fe::graph::Tensor_attributes>;

Status forward_graph(CudnnAttention* a, const AttnDims& s, int64_t ld, int64_t ldo, CachedGraph** out) {
  auto build = [&](fe::graph::Graph& g, TensorPtr Q, TensorPtr K, TensorPtr V) {
    auto opts = fe::graph::SDPA_attributes()
                    .set_name("sdpa")
                    .set_generate_stats(true)
                    .set_causal_mask(true)
                    .set_attn_scale((float)(1.0 / std::sqrt((double)s.D)));
    auto [O, stats] = g.sdpa(Q, K, V, opts);
    set_bhsd(O, kO, s.B, s.H, s.Tq, s.D, ldo);
    stats->set_output(true).set_uid(kStats).set_data_type(fe::DataType_t::FLOAT).set_dim({s.B, s.H, s.Tq, 1}).set_stride(
        {s.H * s.Tq, s.Tq, 1, 1});
  };
  return cached_graph(a, {0, s.B, s.Tq, s.H, s.Hkv, s.D, ld, ldo, 0, 0}, s, ld, build, out);
}

Status backward_graph(CudnnAttention* a, const AttnDims& s, int64_t ld, int64_t ldo, int64_t lddo, int64_t ldd,
                      CachedGraph** out) {
  auto build = [&](fe::graph::Graph& g, TensorPtr Q, TensorPtr K, TensorPtr V) {
    auto O = bhsd(g, "o", kO, s.B, s.H, s.Tq, s.D, ldo);
    auto dO = bhsd(g, "do", kDO, s.B, s.H, s.Tq, s.D, lddo);
    auto stats = stats_tensor(g, s);
    auto opts = fe::graph::SDPA_backward_attributes()
                    .set_name("sdpa_backward")
                    .set_causal_mask(true)
                    .set_attn_scale((float)(1.0 / std::sqrt((double)s.D)))
                    .set_deterministic_algorithm(true);
    auto [dQ, dK, dV] = g.sdpa_backward(Q, K, V, O, dO, stats, opts);
    set_bhsd(dQ, kDQ, s.B, s.H, s.Tq, s.D, ldd);
    set_bhsd(dK, kDK, s.B, s.Hkv, s.Tq, s.D, ldd);
    set_bhsd(dV, kDV, s.B, s.Hkv, s.Tq, s.D, ldd);
  };
  return cached_graph(a, {1, s.B, s.Tq, s.H, s.Hkv, s.D, ld, ldo, lddo, ldd}, s, ld, build, out);
}

Status execute(CudnnAttention* a, CachedGraph* cg, std::unordered_map<int64_t, void*>& pack, cudaStream_t stream) {
  if (fe::detail::set_stream(a->handle, stream) != CUDNN_STATUS_SUCCESS) return Status::fail("cudnnSetStream failed");
  return fe_check(cg->graph->execute(a->handle, pack, a->workspace), "execute");
}

// The frontend reports some failures (a missing symbol, no libcudart to load) by throwing.
template <typename F>
Status guarded(const char* what, F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    return Status::fail(std::string("cuDNN ") + what + ": " + e.what());
  }
}

}  // namespace

Status cudnn_attention_create(CudnnAttention** out) {
  *out = nullptr;
  NC_STATUS_TRY(load_cudnn());
  return guarded("handle", [&]() -> Status {
    cudnnHandle_t h = nullptr;
    const cudnnStatus_t st = fe::detail::create_handle(&h);
    if (st != CUDNN_STATUS_SUCCESS)
      return Status::fail(std::string("cudnnCreate failed: ") + fe::detail::get_error_string(st));
    *out = new CudnnAttention();
    (*out)->handle = h;
    return Status::success();
  });
}

void cudnn_attention_destroy(CudnnAttention* a) {
  if (!a) return;
  a->graphs.clear();
  if (a->handle) (void)fe::detail::destroy_handle(a->handle);
  cudaFree(a->workspace);
  delete a;
}

Status cudnn_attention_forward(CudnnAttention* a, bf16* out, int64_t ldo, float* lse, const bf16* q, const bf16* k,
                               const bf16* v, int64_t ld, const AttnDims& s, cudaStream_t stream) {
  if (!cudnn_attention_supports(s)) return Status::fail("cuDNN attention: unsupported shape (KV-cache form or head dim)");
  return guarded("forward", [&]() -> Status {
    CachedGraph* cg = nullptr;
    NC_STATUS_TRY(forward_graph(a, s, ld, ldo, &cg));
    std::unordered_map<int64_t, void*> pack{{kQ, (void*)q}, {kK, (void*)k}, {kV, (void*)v}, {kO, out}, {kStats, lse}};
    return execute(a, cg, pack, stream);
  });
}

Status cudnn_attention_backward(CudnnAttention* a, bf16* dq, bf16* dk, bf16* dv, int64_t ldd, const bf16* dout,
                                int64_t lddo, const bf16* out, int64_t ldo, const float* lse, const bf16* q,
                                const bf16* k, const bf16* v, int64_t ld, const AttnDims& s, cudaStream_t stream) {
  if (!cudnn_attention_supports(s)) return Status::fail("cuDNN attention: unsupported shape (KV-cache form or head dim)");
  return guarded("backward", [&]() -> Status {
    CachedGraph* cg = nullptr;
    NC_STATUS_TRY(backward_graph(a, s, ld, ldo, lddo, ldd, &cg));
    std::unordered_map<int64_t, void*> pack{{kQ, (void*)q},      {kK, (void*)k},      {kV, (void*)v},
                                            {kO, (void*)out},    {kDO, (void*)dout},  {kStats, (void*)lse},
                                            {kDQ, dq},           {kDK, dk},           {kDV, dv}};
    return execute(a, cg, pack, stream);
  });
}

}  // namespace nc::cuda
