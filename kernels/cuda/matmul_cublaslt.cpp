// matmul_cublaslt.cpp — matmul() (matmul.h) on cuBLASLt: bf16 A and B, fp32 compute and scale, fp32 or
// bf16 C/D, strided batches. Row-major products are computed as their column-major transposes
// (D^T = op(B)^T op(A)^T), so A and B swap places and no data moves. One plan per distinct shape,
// layout and pointer alignment — descriptors plus the heuristic's first algorithm — is cached in the
// handle (llm.c rebuilds them on every call). The workspace is 32 MiB, NVIDIA's advice for Hopper.
#include <cstring>
#include <string>
#include <unordered_map>

#include "cuda_libs.h"
#include "matmul.h"

namespace nc::cuda {

namespace {

constexpr size_t kWorkspaceBytes = 32u << 20;

struct PlanKey {
  int64_t v[20];
  bool operator==(const PlanKey& o) const { return std::memcmp(v, o.v, sizeof v) == 0; }
};
struct PlanKeyHash {
  size_t operator()(const PlanKey& k) const {
    uint64_t h = 1469598103934665603ull;
    for (int64_t x : k.v) h = (h ^ (uint64_t)x) * 1099511628211ull;
    return (size_t)h;
  }
};

struct Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

int64_t alignment(const void* p) {
  const uintptr_t x = (uintptr_t)p;
  int64_t a = 256;
  while (a > 1 && (x % (uintptr_t)a) != 0) a /= 2;
  return a;
}

}  // namespace

}  // namespace nc::cuda

struct nc::cuda::MatmulHandle {
  const CublasLtApi* api = nullptr;
  cublasLtHandle_t lt = nullptr;
  void* workspace = nullptr;
  std::unordered_map<PlanKey, Plan, PlanKeyHash> plans;
};

namespace nc::cuda {

namespace {

Status lt_check(const CublasLtApi* api, cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return Status::success();
  return Status::fail(std::string("cuBLASLt ") + what + ": " + api->status_string(s));
}

void destroy_plan(const CublasLtApi* api, Plan& p) {
  if (p.op) api->desc_destroy(p.op);
  for (cublasLtMatrixLayout_t l : {p.a, p.b, p.c, p.d})
    if (l) api->layout_destroy(l);
}

Status make_layout(const CublasLtApi* api, cublasLtMatrixLayout_t* out, cudaDataType_t type, int64_t rows, int64_t cols,
                   int64_t ld, int32_t batch, int64_t stride) {
  NC_STATUS_TRY(lt_check(api, api->layout_create(out, type, (uint64_t)rows, (uint64_t)cols, ld), "layout"));
  if (batch > 1) {
    NC_STATUS_TRY(lt_check(api, api->layout_set(*out, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch), "batch"));
    NC_STATUS_TRY(lt_check(api, api->layout_set(*out, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride),
                           "batch stride"));
  }
  return Status::success();
}

// The plan of g in column-major terms: m' = N, n' = M; "A" is B (op tb), "B" is A (op ta).
Status build_plan(MatmulHandle* h, const Gemm& g, Plan* p) {
  const CublasLtApi* api = h->api;
  const cudaDataType_t dt = g.d_type == DType::F32 ? CUDA_R_32F : CUDA_R_16BF;
  NC_STATUS_TRY(lt_check(api, api->desc_create(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "matmul descriptor"));
  const cublasOperation_t opa = g.tb ? CUBLAS_OP_T : CUBLAS_OP_N, opb = g.ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  NC_STATUS_TRY(lt_check(api, api->desc_set(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa), "transa"));
  NC_STATUS_TRY(lt_check(api, api->desc_set(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb), "transb"));
  NC_STATUS_TRY(make_layout(api, &p->a, CUDA_R_16BF, g.tb ? g.K : g.N, g.tb ? g.N : g.K, g.ldb, g.batch, g.stride_b));
  NC_STATUS_TRY(make_layout(api, &p->b, CUDA_R_16BF, g.ta ? g.M : g.K, g.ta ? g.K : g.M, g.lda, g.batch, g.stride_a));
  NC_STATUS_TRY(make_layout(api, &p->c, dt, g.N, g.M, g.C ? g.ldc : g.ldd, g.batch, g.C ? g.stride_c : g.stride_d));
  NC_STATUS_TRY(make_layout(api, &p->d, dt, g.N, g.M, g.ldd, g.batch, g.stride_d));

  cublasLtMatmulPreference_t pref = nullptr;
  NC_STATUS_TRY(lt_check(api, api->pref_create(&pref), "preference"));
  const uint64_t ws = kWorkspaceBytes;
  const uint32_t al_a = (uint32_t)alignment(g.B), al_b = (uint32_t)alignment(g.A);
  const uint32_t al_c = (uint32_t)alignment(g.C ? g.C : g.D), al_d = (uint32_t)alignment(g.D);
  Status st = lt_check(api, api->pref_set(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws), "workspace");
  if (st.ok) st = lt_check(api, api->pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a), "align");
  if (st.ok) st = lt_check(api, api->pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b), "align");
  if (st.ok) st = lt_check(api, api->pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof al_c), "align");
  if (st.ok) st = lt_check(api, api->pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_d, sizeof al_d), "align");
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  if (st.ok)
    st = lt_check(api, api->heuristic(h->lt, p->op, p->a, p->b, p->c, p->d, pref, 1, &result, &found), "heuristic");
  api->pref_destroy(pref);
  NC_STATUS_TRY(st);
  if (found == 0)
    return Status::fail("cuBLASLt has no algorithm for a " + std::to_string(g.M) + "x" + std::to_string(g.N) + "x" +
                        std::to_string(g.K) + " product with these types and alignments");
  p->algo = result.algo;
  return Status::success();
}

}  // namespace

Status matmul_create(MatmulHandle** out) {
  *out = nullptr;
  const CublasLtApi* api = nullptr;
  NC_STATUS_TRY(load_cublaslt(&api));
  MatmulHandle* h = new MatmulHandle();
  h->api = api;
  Status st = lt_check(api, api->create(&h->lt), "create");
  if (st.ok) st = from_cuda(cudaMalloc(&h->workspace, kWorkspaceBytes), "cuBLASLt workspace (32 MiB)");
  if (!st.ok) {
    matmul_destroy(h);
    return st;
  }
  *out = h;
  return Status::success();
}

void matmul_destroy(MatmulHandle* h) {
  if (!h) return;
  for (auto& kv : h->plans) destroy_plan(h->api, kv.second);
  if (h->lt) h->api->destroy(h->lt);
  cudaFree(h->workspace);
  delete h;
}

Status matmul(MatmulHandle* h, const Gemm& g, cudaStream_t stream) {
  NC_STATUS_TRY(matmul_validate(g));
  if (g.M == 0 || g.N == 0) return Status::success();
  const PlanKey key{{g.ta, g.tb, g.M, g.N, g.K, g.lda, g.ldb, g.C ? g.ldc : -1, g.ldd, (int64_t)g.d_type, g.batch,
                     g.stride_a, g.stride_b, g.stride_c, g.stride_d, alignment(g.A), alignment(g.B),
                     alignment(g.C ? g.C : g.D), alignment(g.D), 0}};
  auto it = h->plans.find(key);
  if (it == h->plans.end()) {
    Plan p;
    const Status st = build_plan(h, g, &p);
    if (!st.ok) {
      destroy_plan(h->api, p);
      return st;
    }
    it = h->plans.emplace(key, p).first;
  }
  const Plan& p = it->second;
  return lt_check(h->api,
                  h->api->matmul(h->lt, p.op, &g.alpha, g.B, p.a, g.A, p.b, &g.beta, g.C ? g.C : g.D, p.c, g.D, p.d,
                                 &p.algo, h->workspace, kWorkspaceBytes, stream),
                  "matmul");
}

}  // namespace nc::cuda
