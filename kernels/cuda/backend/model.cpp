// model.cpp — the model's lifetime and memory on the GPU: fp32 master weights with a bf16 copy that
// the GEMMs read (refreshed on every write and by the optimizer), gradients on first use, the rotary
// table, activation workspaces carved from one allocation, one compute stream, the cuBLASLt handle and
// the attention path; parameter reads/writes, nanochat A's init (the documented RNG, on the host, so it
// is bit-identical to the cpu backend's), and the profile.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <thread>

#include "checks.h"
#include "internal.h"
#include "lifetime.h"
#include "rng.h"

namespace nc::cu_backend {

using nc::cuda::Gemm;

int32_t upload(NcModel* m, void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return NC_OK;
  NC_CU(m->ctx, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, m->stream), "cudaMemcpyAsync to the GPU");
  NC_CU(m->ctx, cudaStreamSynchronize(m->stream), "cudaStreamSynchronize after an upload");
  return NC_OK;
}

int32_t download(NcModel* m, void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return NC_OK;
  NC_CU(m->ctx, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, m->stream), "cudaMemcpyAsync from the GPU");
  NC_CU(m->ctx, cudaStreamSynchronize(m->stream), "cudaStreamSynchronize (a kernel of this call failed)");
  return NC_OK;
}

int32_t gemm(NcModel* m, const Gemm& g) {
  NcProfile* prof = (m->ctx->flags & NC_CONTEXT_PROFILE) ? &m->prof : nullptr;
  PhaseTimer timer(m, prof, &NcProfile::matmul_seconds);
  NC_ST(m->ctx, nc::cuda::matmul(m->mm, g, m->stream));
  if (prof) prof->matmul_flops += 2.0 * (double)g.M * (double)g.N * (double)g.K * (double)g.batch;
  return NC_OK;
}

int32_t ensure_grads(NcModel* m) {
  if (m->g.p) return NC_OK;
  return dev_alloc(m->ctx, m->g, sizeof(float) * (size_t)m->n_weights, true, "gradients");
}

int32_t workspace_ensure(NcModel* m, Workspace& ws, int64_t rows, bool train, bool head) {
  if (workspace_serves(ws, ws.mem.p != nullptr, rows, train, head)) return NC_OK;
  const WorkspacePlan plan = plan_workspace(*m, ws, rows, train, head);
  const int64_t N = plan.rows, chunk = plan.chunk_rows, nslots = plan.layer_slots;
  const int64_t C = m->C, QKV = m->QKV, F = m->F, H = m->H, Hkv = m->Hkv, V = m->V;
  const size_t emb_bytes = train ? nc::cuda::embedding_backward_scratch_bytes(N) : 0;
  // Two passes over the same carving: the first measures, the second hands out pointers.
  auto carve = [&](unsigned char* base) -> size_t {
    size_t off = 0;
    auto take = [&](size_t bytes) -> void* {
      void* r = base ? base + off : nullptr;
      off += (bytes + 255) & ~(size_t)255;
      return r;
    };
    const size_t f = sizeof(float), h = sizeof(bf16), i4 = sizeof(int32_t);
    ws.acts.assign((size_t)nslots, LayerActs{});
    for (LayerActs& a : ws.acts) {
      a.xn1 = (bf16*)take(h * N * C);
      a.r1 = (float*)take(f * N);
      a.qkv = (bf16*)take(h * N * QKV);
      a.rqk = (float*)take(f * N * (H + Hkv));
      a.att = (bf16*)take(h * N * C);
      a.lse = (float*)take(f * N * H);
      a.xn2 = (bf16*)take(h * N * C);
      a.r2 = (float*)take(f * N);
      a.h = (bf16*)take(h * N * F);
    }
    ws.x = (float*)take(f * N * C);
    ws.x0 = (float*)take(f * N * C);
    ws.r0 = (float*)take(f * N);
    ws.xf = (bf16*)take(h * N * C);
    ws.rf = (float*)take(f * N);
    ws.act = (bf16*)take(h * N * F);
    ws.logits = train ? nullptr : (float*)take(f * chunk * V);
    ws.losses = (float*)take(f * N);
    ws.argmax = (int32_t*)take(i4 * N);
    ws.tokens = (int32_t*)take(i4 * N);
    ws.targets = (int32_t*)take(i4 * N);
    ws.dscale = (float*)take(f * N);
    if (train) {
      ws.dlogits = (bf16*)take(h * chunk * V);
      ws.dx = (float*)take(f * N * C);
      ws.dxn = (float*)take(f * N * C);
      ws.dxb = (bf16*)take(h * N * C);
      ws.datt = (bf16*)take(h * N * C);
      ws.dqkv = (bf16*)take(h * N * QKV);
      ws.attn_scratch = take(f * N * H);
      ws.emb_scratch = take(emb_bytes);
    } else {
      ws.dlogits = nullptr;
      ws.dx = ws.dxn = nullptr;
      ws.dxb = ws.datt = ws.dqkv = nullptr;
      ws.attn_scratch = ws.emb_scratch = nullptr;
    }
    return off;
  };
  const size_t total = carve(nullptr);
  ws.rows = 0;
  ws.acts.clear();
  NC_TRY(dev_alloc(m->ctx, ws.mem, total, false, train ? "training activations" : "inference activations"));
  carve(ws.mem.as<unsigned char>());
  ws.emb_scratch_bytes = emb_bytes;
  ws.rows = N;
  ws.chunk_rows = chunk;
  ws.train = train;
  return NC_OK;
}

namespace {

// Refreshes the bf16 copy of parameter i (after a write).
int32_t refresh_bf16(NcModel* m, int i) {
  NC_CU(m->ctx, nc::cuda::f32_to_bf16(m->wbp(i), m->wp(i), m->params[(size_t)i].numel, m->stream), "f32_to_bf16");
  return NC_OK;
}

int32_t check_param(const NcModel* m, int32_t index, const void* buf, int64_t numel) {
  NC_CHECK_NOT_NULL(m->ctx, buf);
  NC_TRY(check_index(m->ctx, index, (int64_t)m->params.size(), "parameter"));
  const ParamEntry& e = m->params[(size_t)index];
  return check_numel(m->ctx, e.name, e.numel, numel);
}

// The init RNG of nanochat.h for one tensor, on host threads (d20's 561M values in well under a second).
void init_tensor(float* p, int64_t n, uint64_t key, double std_) {
  const int64_t pairs = (n + 1) / 2;
  const int threads = (int)std::max<int64_t>(1, std::min<int64_t>(std::thread::hardware_concurrency(), pairs / 65536));
  auto work = [&](int t) {
    for (int64_t k = pairs * t / threads; k < pairs * (t + 1) / threads; k++) {
      double z0, z1;
      nc::rng_normal_pair(key, (uint64_t)k, &z0, &z1);
      p[2 * k] = (float)(std_ * z0);
      if (2 * k + 1 < n) p[2 * k + 1] = (float)(std_ * z1);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; t++) pool.emplace_back(work, t);
  work(0);
  for (std::thread& th : pool) th.join();
}

void destroy_device_state(NcModel* m) {
  if (m->mm) nc::cuda::matmul_destroy(m->mm);
  m->mm = nullptr;
  nc::cuda::attention_paths_destroy(&m->attn);
  if (m->stream) cudaStreamDestroy(m->stream);
  m->stream = nullptr;
}

}  // namespace
}  // namespace nc::cu_backend

using namespace nc;
using namespace nc::cu_backend;

extern "C" {

NC_API int32_t nc_model_create(NcContext* ctx, const NcModelConfig* config, NcModel** out_model) {
  NC_CHECK_NOT_NULL(nullptr, ctx);
  return nc_guard(ctx, [&]() -> int32_t {
    NC_TRY(check_model_create(ctx, config, out_model, 1u << NC_DTYPE_BF16, "cuda"));
    NC_TRY(use_device(ctx));
    struct Deleter {
      void operator()(NcModel* m) const {
        destroy_device_state(m);
        delete m;
      }
    };
    std::unique_ptr<NcModel, Deleter> owner(new NcModel());
    NcModel* m = owner.get();
    m->ctx = ctx;
    m->build(*config);
    m->rope_len = 10 * (int64_t)config->sequence_len;
    NC_CU(ctx, cudaStreamCreateWithFlags(&m->stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    NC_ST(ctx, nc::cuda::matmul_create(&m->mm));
    NC_ST(ctx, nc::cuda::attention_paths_create(&m->attn));
    NC_TRY(dev_alloc(ctx, m->w, sizeof(float) * (size_t)m->n_weights, true, "parameters"));
    NC_TRY(dev_alloc(ctx, m->wb, sizeof(bf16) * (size_t)m->n_weights, true, "bf16 parameters"));
    const int64_t half = m->D / 2, nrope = m->rope_len * half;
    NC_TRY(dev_alloc(ctx, m->rope_cos, sizeof(float) * (size_t)nrope, false, "rotary table"));
    NC_TRY(dev_alloc(ctx, m->rope_sin, sizeof(float) * (size_t)nrope, false, "rotary table"));
    // The cpu backend's table: double, rounded to fp32.
    std::vector<float> cs((size_t)nrope), sn((size_t)nrope);
    for (int64_t p = 0; p < m->rope_len; p++)
      for (int64_t j = 0; j < half; j++) {
        const double angle = (double)p / std::pow((double)config->rotary_base, (double)(2 * j) / (double)m->D);
        cs[(size_t)(p * half + j)] = (float)std::cos(angle);
        sn[(size_t)(p * half + j)] = (float)std::sin(angle);
      }
    NC_TRY(upload(m, m->rope_cos.p, cs.data(), sizeof(float) * cs.size()));
    NC_TRY(upload(m, m->rope_sin.p, sn.data(), sizeof(float) * sn.size()));
    ctx->live_models++;
    *out_model = owner.release();
    return NC_OK;
  });
}

NC_API int32_t nc_model_destroy(NcModel* m) {
  if (!m) return NC_OK;
  NC_TRY(check_model_unused(m->ctx, m->live_caches.load()));
  (void)use_device(m->ctx);
  if (m->stream) (void)cudaStreamSynchronize(m->stream);
  if (m->comm) m->comm->attached--;
  m->ctx->live_models--;
  destroy_device_state(m);
  delete m;
  return NC_OK;
}

NC_API int32_t nc_model_param_read(const NcModel* cm, int32_t index, float* dst, int64_t numel) {
  NC_CHECK_NOT_NULL(nullptr, cm);
  NcModel* m = const_cast<NcModel*>(cm);
  NC_TRY(check_param(m, index, dst, numel));
  NC_TRY(use_device(m->ctx));
  return download(m, dst, m->wp(index), sizeof(float) * (size_t)numel);
}

NC_API int32_t nc_model_param_write(NcModel* m, int32_t index, const float* src, int64_t numel) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_TRY(check_param(m, index, src, numel));
  NC_TRY(use_device(m->ctx));
  NC_TRY(upload(m, m->wp(index), src, sizeof(float) * (size_t)numel));
  return refresh_bf16(m, index);
}

NC_API int32_t nc_model_grad_read(NcModel* m, int32_t index, float* dst, int64_t numel) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_TRY(check_param(m, index, dst, numel));
  NC_TRY(use_device(m->ctx));
  NC_TRY(ensure_grads(m));
  return download(m, dst, m->gp(index), sizeof(float) * (size_t)numel);
}

NC_API int32_t nc_model_init_weights(NcModel* m, uint64_t seed) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_TRY(use_device(m->ctx));
    std::vector<float> host;
    for (int i = 0; i < (int)m->params.size(); i++) {
      const double std_ = init_std(*m, i);
      const int64_t n = m->params[(size_t)i].numel;
      host.assign((size_t)n, 0.0f);
      if (std_ != 0.0) init_tensor(host.data(), n, rng_key(seed, (uint64_t)i), std_);
      NC_TRY(upload(m, m->wp(i), host.data(), sizeof(float) * (size_t)n));
      NC_TRY(refresh_bf16(m, i));
    }
    return NC_OK;
  });
}

}  // extern "C"
