// bench_kernels.cu — the kernel micro-benchmark for a real GPU (run by device_check.sh): each kernel at
// nanochat d20 shapes (B*T = 65536 tokens, C = 1280, H = 10, D = 128, V = 65536), timed with CUDA
// events (2 warm-ups, median of 10), against its floor: bytes over the measured copy bandwidth or FLOPs
// over the measured bf16 GEMM rate (both ceilings are measured first, on this GPU). Prints a table;
// --json FILE writes the rows. Buffers hold random data, never zeros (zeros run faster than real data).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "attention_cudnn.h"
#include "kernels.h"

using namespace nc::cuda;

namespace {

struct Row {
  std::string name;
  double ms, bytes, flops;
};
std::vector<Row> g_rows;
double g_bandwidth = 0, g_flops_peak = 0;  // measured ceilings (bytes/s, FLOP/s)

#define BENCH_CHECK(expr)                                                                                 \
  do {                                                                                                    \
    const cudaError_t e_ = (expr);                                                                        \
    if (e_ != cudaSuccess) {                                                                              \
      std::fprintf(stderr, "%s:%d: %s -> %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(e_));       \
      std::exit(1);                                                                                       \
    }                                                                                                     \
  } while (0)
#define BENCH_STATUS(expr)                                                                                \
  do {                                                                                                    \
    const Status s_ = (expr);                                                                             \
    if (!s_.ok) {                                                                                         \
      std::fprintf(stderr, "%s:%d: %s -> %s\n", __FILE__, __LINE__, #expr, s_.message.c_str());           \
      std::exit(1);                                                                                       \
    }                                                                                                     \
  } while (0)

// Uniform values in [-scale, scale] from a hash of the index (filled on the device: host RNG would
// take longer than the benchmark for the 335M-element activations).
template <typename T>
__global__ void fill_random_kernel(T* p, int64_t n, float scale, uint64_t seed) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    uint64_t z = seed * 0x9E3779B97F4A7C15ull + (uint64_t)i;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    p[i] = from_float<T>(scale * (2.0f * (float)(z >> 40) * (1.0f / 16777216.0f) - 1.0f));
  }
}

template <typename T>
T* random_buffer(size_t n, float scale = 1.0f, uint64_t seed = 1) {
  T* d = nullptr;
  BENCH_CHECK(cudaMalloc(&d, n * sizeof(T)));
  BENCH_CHECK(launch(fill_random_kernel<T>, grid_for((int64_t)n, 256), 256, 0, nullptr, d, (int64_t)n, scale, seed));
  return d;
}

double time_ms(const std::function<void()>& fn) {
  cudaEvent_t a, b;
  BENCH_CHECK(cudaEventCreate(&a));
  BENCH_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 2; i++) fn();
  std::vector<float> t;
  for (int i = 0; i < 10; i++) {
    BENCH_CHECK(cudaEventRecord(a));
    fn();
    BENCH_CHECK(cudaEventRecord(b));
    BENCH_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    BENCH_CHECK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms);
  }
  BENCH_CHECK(cudaGetLastError());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  return 0.5 * (t[4] + t[5]);
}

void record(const std::string& name, double ms, double bytes, double flops) {
  g_rows.push_back({name, ms, bytes, flops});
  const double floor_ms = 1e3 * std::max(bytes / g_bandwidth, flops / g_flops_peak);
  std::printf("%-34s %9.3f ms  %8.1f GB/s  %7.1f TFLOP/s  floor %8.3f ms  (%3.0f%% of floor speed)\n", name.c_str(), ms,
              bytes / ms * 1e-6, flops / ms * 1e-9, floor_ms, 100.0 * floor_ms / ms);
}

Gemm linear(int64_t M, int64_t N, int64_t K, const bf16* x, const bf16* w, void* y, DType dt) {
  Gemm g;  // y [M, N] = x [M, K] w^T (w [N, K]): nn.Linear
  g.tb = true, g.M = M, g.N = N, g.K = K, g.A = x, g.lda = K, g.B = w, g.ldb = K, g.D = y, g.ldd = N, g.d_type = dt;
  return g;
}

}  // namespace

int main(int argc, char** argv) {
  const char* json_path = nullptr;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
  }
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    const cudaError_t e = cudaGetLastError();
    std::fprintf(stderr, "no usable CUDA device: %s (%s)%s\n", cudaGetErrorString(e), cudaGetErrorName(e),
                 e == cudaErrorInsufficientDriver ? "; no NVIDIA driver, or one older than CUDA 13.0 needs (R580+)" : "");
    return 3;
  }
  const int64_t B = 32, T = 2048, N = B * T, C = 1280, H = 10, D = 128, F = 4 * C, V = 65536, QKV = 3 * C;
  MatmulHandle* mm = nullptr;
  BENCH_STATUS(matmul_create(&mm));

  // Ceilings: a device-to-device copy (read + write), a large bf16 GEMM through our wrapper.
  {
    const size_t n = (size_t)1 << 30;
    void *a = nullptr, *b = nullptr;
    BENCH_CHECK(cudaMalloc(&a, n));
    BENCH_CHECK(cudaMalloc(&b, n));
    BENCH_CHECK(cudaMemset(a, 1, n));
    const double ms = time_ms([&] { BENCH_CHECK(cudaMemcpyAsync(b, a, n, cudaMemcpyDeviceToDevice)); });
    g_bandwidth = 2.0 * (double)n / (ms * 1e-3);
    cudaFree(a);
    cudaFree(b);
    const int64_t S = 8192;
    bf16* x = random_buffer<bf16>((size_t)(S * S));
    bf16* w = random_buffer<bf16>((size_t)(S * S), 1.0f, 2);
    bf16* y = random_buffer<bf16>((size_t)(S * S), 1.0f, 3);
    const Gemm g = linear(S, S, S, x, w, y, DType::BF16);
    const double gms = time_ms([&] { BENCH_STATUS(matmul(mm, g, nullptr)); });
    g_flops_peak = 2.0 * S * S * S / (gms * 1e-3);
    std::printf("ceilings: copy %.0f GB/s (read+write), bf16 GEMM 8192^3 %.0f TFLOP/s\n", g_bandwidth * 1e-9,
                g_flops_peak * 1e-12);
    cudaFree(x);
    cudaFree(w);
    cudaFree(y);
  }

  // Matrix products of one d20 layer and the head (per micro-batch of 65536 tokens; head in 8192 rows).
  {
    bf16* x = random_buffer<bf16>((size_t)(N * F));
    bf16* w = random_buffer<bf16>((size_t)(V * C), 0.05f, 4);
    float* y32 = random_buffer<float>((size_t)(N * C));
    bf16* y16 = random_buffer<bf16>((size_t)(8192 * V));
    Gemm qkv = linear(N, QKV, C, x, w, y16, DType::BF16);
    record("matmul qkv [65536x3840x1280]", time_ms([&] { BENCH_STATUS(matmul(mm, qkv, nullptr)); }), 2.0 * (N * C + QKV * C + N * QKV),
           2.0 * N * QKV * C);
    Gemm fc = linear(N, F, C, x, w, y16, DType::BF16);  // y16 (8192 x V) holds N x F too
    record("matmul c_fc [65536x5120x1280]", time_ms([&] { BENCH_STATUS(matmul(mm, fc, nullptr)); }),
           2.0 * (N * C + F * C + N * F), 2.0 * N * F * C);
    Gemm proj = linear(N, C, F, x, w, y32, DType::F32);  // c_proj with the residual add: beta = 1, C = D
    proj.C = y32, proj.ldc = C, proj.beta = 1.0f;
    record("matmul mlp c_proj += [65536x1280x5120]", time_ms([&] { BENCH_STATUS(matmul(mm, proj, nullptr)); }),
           2.0 * (N * F + C * F) + 8.0 * N * C, 2.0 * N * C * F);
    Gemm head = linear(8192, V, C, x, w, y16, DType::BF16);
    record("matmul lm_head [8192x65536x1280]", time_ms([&] { BENCH_STATUS(matmul(mm, head, nullptr)); }),
           2.0 * (8192 * C + V * C + 8192 * V), 2.0 * 8192 * V * C);
    cudaFree(x);
    cudaFree(w);
    cudaFree(y32);
    cudaFree(y16);
  }

  // Attention: cuDNN at the full d20 micro-batch; the SIMT fallback at B = 2 (it is slower).
  {
    bf16* qkv = random_buffer<bf16>((size_t)(N * QKV));
    bf16* out = random_buffer<bf16>((size_t)(N * C));
    bf16* dout = random_buffer<bf16>((size_t)(N * C), 1.0f, 5);
    bf16* dqkv = random_buffer<bf16>((size_t)(N * QKV));
    float* lse = random_buffer<float>((size_t)(B * H * T));
    const double fwd_flops = 4.0 * B * H * D * T * T / 2, bwd_flops = 2.5 * fwd_flops;
    CudnnAttention* cd = nullptr;
    const Status st = cudnn_attention_create(&cd);
    if (st.ok) {
      const AttnDims s{B, T, H, H, D, 0};
      record("attention fwd cuDNN (B=32)", time_ms([&] {
               BENCH_STATUS(cudnn_attention_forward(cd, out, C, lse, qkv, qkv + C, qkv + 2 * C, QKV, s, nullptr));
             }),
             2.0 * N * (QKV + C), fwd_flops);
      record("attention bwd cuDNN (B=32)", time_ms([&] {
               BENCH_STATUS(cudnn_attention_backward(cd, dqkv, dqkv + C, dqkv + 2 * C, QKV, dout, C, out, C, lse, qkv,
                                                     qkv + C, qkv + 2 * C, QKV, s, nullptr));
             }),
             2.0 * N * (2 * QKV + 2 * C), bwd_flops);
      cudnn_attention_destroy(cd);
    } else {
      std::printf("attention cuDNN: unavailable: %s\n", st.message.c_str());
    }
    const int64_t Bs = 2;
    const AttnDims s{Bs, T, H, H, D, 0};
    void* scratch = nullptr;
    BENCH_CHECK(cudaMalloc(&scratch, attention_backward_scratch_bytes(s)));
    record("attention fwd SIMT (B=2)", time_ms([&] {
             BENCH_CHECK(attention_forward(out, C, lse, qkv, QKV, qkv + C, QKV, T * QKV, qkv + 2 * C, QKV, T * QKV, s,
                                           nullptr));
           }),
           2.0 * Bs * T * (QKV + C), fwd_flops * Bs / B);
    record("attention bwd SIMT (B=2)", time_ms([&] {
             BENCH_CHECK(attention_backward(dqkv, dqkv + C, dqkv + 2 * C, QKV, dout, C, out, C, lse, qkv, qkv + C,
                                            qkv + 2 * C, QKV, s, scratch, nullptr));
           }),
           2.0 * Bs * T * (2 * QKV + 2 * C), bwd_flops * Bs / B);
    // Decode against a 2048-position cache, 32 rows (memory-bound: the cache is read once).
    const AttnDims dec{B, 1, H, H, D, T - 1};
    record("attention decode SIMT (32 rows)", time_ms([&] {
             BENCH_CHECK(attention_forward(out, C, lse, qkv, QKV, qkv + C, QKV, T * QKV, qkv + 2 * C, QKV, T * QKV, dec,
                                           nullptr));
           }),
           2.0 * B * T * 2 * C, 4.0 * B * H * D * T);
    cudaFree(scratch);
    cudaFree(qkv);
    cudaFree(out);
    cudaFree(dout);
    cudaFree(dqkv);
    cudaFree(lse);
  }

  // Pointwise and per-row kernels at d20 sizes.
  {
    float* x = random_buffer<float>((size_t)(N * C));
    float* dx = random_buffer<float>((size_t)(N * C), 1.0f, 6);
    bf16* y = random_buffer<bf16>((size_t)(N * C));
    float* rstd = random_buffer<float>((size_t)(N * 2 * H));
    record("rmsnorm fwd (fp32 -> bf16)", time_ms([&] { BENCH_CHECK(rmsnorm_forward(y, C, rstd, x, C, N, C, nullptr)); }),
           6.0 * N * C, 0);
    record("rmsnorm bwd (accumulate)", time_ms([&] {
             BENCH_CHECK(rmsnorm_backward(dx, C, (const float*)x, C, (const bf16*)y, C, rstd, N, C, true, nullptr));
           }),
           14.0 * N * C, 0);
    bf16* qkv = random_buffer<bf16>((size_t)(N * QKV));
    float* cs = random_buffer<float>((size_t)(T * D / 2));
    float* sn = random_buffer<float>((size_t)(T * D / 2), 1.0f, 7);
    record("rope+qknorm fwd", time_ms([&] {
             BENCH_CHECK(rope_qknorm_forward(qkv, QKV, rstd, cs, sn, B, T, 0, 2 * H, D, nullptr));
           }),
           2.0 * 2 * N * 2 * C, 0);
    bf16* dqkv = random_buffer<bf16>((size_t)(N * QKV), 1.0f, 8);
    record("rope+qknorm bwd", time_ms([&] {
             BENCH_CHECK(rope_qknorm_backward(dqkv, QKV, qkv, QKV, rstd, cs, sn, B, T, 0, 2 * H, D, nullptr));
           }),
           3.0 * 2 * N * 2 * C, 0);
    cudaFree(dqkv);
    bf16* h = random_buffer<bf16>((size_t)(N * F));
    bf16* a = random_buffer<bf16>((size_t)(N * F));
    record("relu2 fwd", time_ms([&] { BENCH_CHECK(relu2_forward(a, h, N * F, nullptr)); }), 4.0 * N * F, 0);
    record("relu2 bwd", time_ms([&] { BENCH_CHECK(relu2_backward(a, (const bf16*)a, h, N * F, nullptr)); }), 6.0 * N * F, 0);
    int32_t* idx = nullptr;
    {
      std::vector<int32_t> hi((size_t)N);
      std::mt19937_64 rng(8);
      for (int32_t& t : hi) t = (int32_t)(rng() % (uint64_t)V);
      BENCH_CHECK(cudaMalloc(&idx, (size_t)N * 4));
      BENCH_CHECK(cudaMemcpy(idx, hi.data(), (size_t)N * 4, cudaMemcpyHostToDevice));
    }
    float* wte = random_buffer<float>((size_t)(V * C));
    record("embedding fwd (fp32)", time_ms([&] { BENCH_CHECK(embedding_forward(x, (const float*)wte, idx, N, C, nullptr)); }),
           8.0 * N * C, 0);
    const size_t esb = embedding_backward_scratch_bytes(N);
    void* es = nullptr;
    BENCH_CHECK(cudaMalloc(&es, esb));
    record("embedding bwd (sort + runs)", time_ms([&] {
             BENCH_CHECK(embedding_backward(wte, (const float*)dx, idx, N, C, V, es, esb, nullptr));
           }),
           4.0 * N * C + 8.0 * N * C, 0);
    cudaFree(es);
    cudaFree(wte);
    cudaFree(idx);
    cudaFree(h);
    cudaFree(a);
    cudaFree(qkv);
    cudaFree(cs);
    cudaFree(sn);
    cudaFree(x);
    cudaFree(dx);
    cudaFree(y);
    cudaFree(rstd);
  }

  // The loss head over one 8192-row chunk, and sampling for 32 decode rows.
  {
    const int64_t rows = 8192;
    bf16* logits = random_buffer<bf16>((size_t)(rows * V), 10.0f);
    std::vector<int32_t> ht((size_t)rows);
    for (int64_t r = 0; r < rows; r++) ht[(size_t)r] = (int32_t)((r * 7919) % V);
    int32_t* targets = nullptr;
    BENCH_CHECK(cudaMalloc(&targets, (size_t)rows * 4));
    BENCH_CHECK(cudaMemcpy(targets, ht.data(), (size_t)rows * 4, cudaMemcpyHostToDevice));
    float* losses = random_buffer<float>((size_t)rows);
    // With grad the kernel overwrites the logits; the next repeat then reads gradients (same cost).
    record("softcap+CE fwd+bwd (8192 rows)", time_ms([&] {
             BENCH_CHECK(softcap_ce(logits, targets, (const float*)nullptr, losses, (int32_t*)nullptr, rows, V, 15.0f,
                                    1e-4f, true, nullptr));
           }),
           3.0 * 2 * rows * V, 0);
    uint64_t* seeds = nullptr;
    {
      std::vector<uint64_t> hs(32);
      for (size_t i = 0; i < hs.size(); i++) hs[i] = 0x9E3779B97F4A7C15ull * (i + 1);
      BENCH_CHECK(cudaMalloc(&seeds, hs.size() * sizeof(uint64_t)));
      BENCH_CHECK(cudaMemcpy(seeds, hs.data(), hs.size() * sizeof(uint64_t), cudaMemcpyHostToDevice));
    }
    int32_t* tokens = targets;
    record("sample top-50 (32 rows)", time_ms([&] {
             BENCH_CHECK(sample_tokens(tokens, (float*)nullptr, (const bf16*)logits, 32, V, 1.0f, 50, 15.0f, seeds, 100, nullptr));
           }),
           6.0 * 2 * 32 * V, 0);
    cudaFree(seeds);
    cudaFree(logits);
    cudaFree(targets);
    cudaFree(losses);
  }

  // Optimizer: AdamW over wte + lm_head, Muon over the 20 c_fc matrices, the gradient norm.
  {
    const int64_t n_adam = 2 * V * C;
    float* p = random_buffer<float>((size_t)n_adam);
    float* g = random_buffer<float>((size_t)n_adam, 1e-3f, 9);
    float* m = random_buffer<float>((size_t)n_adam, 1e-3f, 10);
    float* v = random_buffer<float>((size_t)n_adam, 1e-6f, 11);
    bf16* pb = random_buffer<bf16>((size_t)n_adam);
    const AdamwStep h{0.004, 0.8, 0.95, 1e-10, 0.0, 1.0, 10};
    record("adamw (167.8M params)", time_ms([&] { BENCH_CHECK(adamw_update(p, pb, g, m, v, n_adam, h, nullptr, nullptr)); }),
           30.0 * n_adam, 0);
    void* gs = nullptr;
    BENCH_CHECK(cudaMalloc(&gs, grad_norm_scratch_bytes()));
    record("grad norm (167.8M)", time_ms([&] { BENCH_CHECK(grad_norm(g, n_adam, gs, m, m + 1, 1.0f, nullptr)); }),
           4.0 * n_adam, 0);
    cudaFree(gs);
    const int count = 20;
    const int64_t rows = F, cols = C, numel = rows * cols;
    std::vector<int64_t> ho(count);
    for (int i = 0; i < count; i++) ho[(size_t)i] = i * numel;
    int64_t* offsets = nullptr;
    BENCH_CHECK(cudaMalloc(&offsets, count * sizeof(int64_t)));
    BENCH_CHECK(cudaMemcpy(offsets, ho.data(), count * sizeof(int64_t), cudaMemcpyHostToDevice));
    bf16* X = random_buffer<bf16>((size_t)(count * numel), 0.01f);
    bf16* X2 = random_buffer<bf16>((size_t)(count * numel));
    bf16* A = random_buffer<bf16>((size_t)(count * cols * cols));
    bf16* Bm = random_buffer<bf16>((size_t)(count * cols * cols));
    void* partials = nullptr;
    BENCH_CHECK(cudaMalloc(&partials, muon_partials_bytes(count, rows, cols)));
    record("muon momentum (20 x c_fc)", time_ms([&] {
             BENCH_CHECK(muon_momentum(X, m, g, offsets, count, rows, cols, 0.95f, 1.0f, nullptr, partials, nullptr));
           }),
           14.0 * count * numel, 0);
    record("muon normalize (20 x c_fc)", time_ms([&] {
             BENCH_CHECK(muon_normalize(X, count, rows, cols, partials, nullptr));
           }),
           4.0 * count * numel, 0);
    bf16* result = nullptr;
    const double ns_flops = 5.0 * count * (2.0 * cols * cols * rows * 2 + 2.0 * cols * cols * cols);
    record("muon newton-schulz (20 x c_fc)", time_ms([&] {
             BENCH_STATUS(newton_schulz5(mm, X, X2, A, Bm, count, cols, rows, &result, nullptr));
           }),
           5.0 * count * (2.0 * 3 * cols * rows + 3.0 * 2 * cols * cols), ns_flops);
    record("muon update (20 x c_fc)", time_ms([&] {
             BENCH_CHECK(muon_update(p, pb, offsets, result, count, rows, cols, 0.02, nullptr));
           }),
           12.0 * count * numel, 0);
    for (void* b : {(void*)p, (void*)g, (void*)m, (void*)v, (void*)pb, (void*)offsets, (void*)X, (void*)X2, (void*)A,
                    (void*)Bm, partials})
      cudaFree(b);
  }
  matmul_destroy(mm);

  if (json_path) {
    FILE* f = std::fopen(json_path, "w");
    if (f) {
      std::fprintf(f, "{\"copy_bytes_per_s\": %.6g, \"bf16_gemm_flops\": %.6g, \"kernels\": [", g_bandwidth, g_flops_peak);
      for (size_t i = 0; i < g_rows.size(); i++)
        std::fprintf(f, "%s\n  {\"name\": \"%s\", \"ms\": %.6g, \"bytes\": %.6g, \"flops\": %.6g}", i ? "," : "",
                     g_rows[i].name.c_str(), g_rows[i].ms, g_rows[i].bytes, g_rows[i].flops);
      std::fprintf(f, "\n]}\n");
      std::fclose(f);
    }
  }
  return 0;
}
