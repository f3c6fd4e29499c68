// test_attention.cu — both attention paths against the CPU backend's attention (ops.h) in double: the
// SIMT flash attention (GQA, sequence lengths that are not multiples of the tile, head dims 64 and 128
// — nanochat's —, the KV-cache form with queries at pos0 > 0, the backward) and the cuDNN wrapper
// (on a GPU cuDNN's fused kernels; in the emulator its CPU route) on the training form.
//
// Tolerances: inputs are exact bf16 values; scores, softmax statistics and accumulators are fp32
// (~1e-6 relative), and each output element is rounded to bf16 once (2^-8 of itself). Relative to a
// tensor's scale: 2 * 2^-8 for the bf16 outputs, 1e-5 for the fp32 log-sum-exp.
#include <vector>

#include <cstdlib>

#include "attention_path.h"
#include "ops.h"
#include "util.h"

using namespace nc_test;
namespace cu = nc::cuda;

namespace {

// cudnn == nullptr: the SIMT kernels; else the cuDNN wrapper.
void check_training_form(int64_t B, int64_t T, int64_t H, int64_t Hkv, int64_t D, uint64_t seed,
                         cu::CudnnAttention* cudnn = nullptr) {
  const int64_t ld = (H + 2 * Hkv) * D + 8, C = H * D, ldo = C + 4;
  std::vector<float> qkv = randn_bf16((size_t)(B * T * ld), seed);
  DeviceBuffer<bf16> dqkv(to_bf16(qkv)), out(B * T * ldo);
  DeviceBuffer<float> lse(B * H * T);
  out.poison();
  const cu::AttnDims s{B, T, H, Hkv, D, 0};
  const bf16 *q = dqkv.p, *k = dqkv.p + H * D, *v = dqkv.p + (H + Hkv) * D;
  if (cudnn) {
    const cu::Status st = cu::cudnn_attention_forward(cudnn, out.p, ldo, lse.p, q, k, v, ld, s, nullptr);
    NC_CHECK(st.ok) << " " << st.message;
    if (!st.ok) return;
  } else {
    NC_REQUIRE_CUDA(cu::attention_forward(out.p, ldo, lse.p, q, ld, k, ld, T * ld, v, ld, T * ld, s, nullptr));
  }
  std::vector<double> x = to_double(qkv), oref((size_t)(B * T * ldo), 0.0), lref((size_t)(B * H * T));
  const nc::AttnShape shape{B, T, H, Hkv, D, 0};
  NC_CHECK(nc::attention_forward(oref.data(), ldo, lref.data(), x.data(), ld, x.data() + H * D, ld, T * ld,
                                 x.data() + (H + Hkv) * D, ld, T * ld, shape));
  std::vector<bf16> oh = out.download();
  std::vector<double> og, orf;
  for (int64_t r = 0; r < B * T; r++)
    for (int64_t c = 0; c < C; c++) {
      og.push_back(__bfloat162float(oh[(size_t)(r * ldo + c)]));
      orf.push_back(oref[(size_t)(r * ldo + c)]);
    }
  NC_CHECK_CLOSE("out", og, orf, 2 * kBf16Unit);
  std::vector<float> lh = lse.download();
  NC_CHECK_CLOSE("lse", to_double(lh), lref, 1e-5);

  // Backward from the kernel's own out and lse (the reference gets the same), so only the backward's
  // arithmetic is compared.
  std::vector<float> dout = randn_bf16((size_t)(B * T * ldo), seed + 1);
  DeviceBuffer<bf16> ddout(to_bf16(dout)), dgrad(B * T * ld);
  DeviceBuffer<unsigned char> scratch(cu::attention_backward_scratch_bytes(s));
  dgrad.poison();
  if (cudnn) {
    const cu::Status st = cu::cudnn_attention_backward(cudnn, dgrad.p, dgrad.p + H * D, dgrad.p + (H + Hkv) * D, ld,
                                                       ddout.p, ldo, out.p, ldo, lse.p, q, k, v, ld, s, nullptr);
    NC_CHECK(st.ok) << " " << st.message;
    if (!st.ok) return;
  } else {
    NC_REQUIRE_CUDA(cu::attention_backward(dgrad.p, dgrad.p + H * D, dgrad.p + (H + Hkv) * D, ld, ddout.p, ldo, out.p,
                                           ldo, lse.p, q, k, v, ld, s, scratch.p, nullptr));
  }
  std::vector<double> gref((size_t)(B * T * ld), 0.0), dd = to_double(dout), od = to_double(oh), ld_ = to_double(lh);
  NC_CHECK(nc::attention_backward(gref.data(), gref.data() + H * D, gref.data() + (H + Hkv) * D, ld, dd.data(), ldo,
                                  od.data(), ldo, ld_.data(), x.data(), x.data() + H * D, x.data() + (H + Hkv) * D, ld,
                                  shape));
  std::vector<bf16> gh = dgrad.download();
  const char* names[3] = {"dq", "dk", "dv"};
  const int64_t col0[3] = {0, H * D, (H + Hkv) * D}, width[3] = {H * D, Hkv * D, Hkv * D};
  for (int t = 0; t < 3; t++) {
    std::vector<double> a, b;
    for (int64_t r = 0; r < B * T; r++)
      for (int64_t c = col0[t]; c < col0[t] + width[t]; c++) {
        a.push_back(__bfloat162float(gh[(size_t)(r * ld + c)]));
        b.push_back(gref[(size_t)(r * ld + c)]);
      }
    NC_CHECK_CLOSE(names[t], a, b, 2 * kBf16Unit);
  }
}

}  // namespace

NC_TEST(Attention, GqaForwardBackwardMatchCpu) { check_training_form(2, 45, 4, 2, 64, 100); }
NC_TEST(Attention, HeadDim128MultiHead) { check_training_form(1, 70, 2, 2, 128, 110); }

NC_TEST(Attention, CudnnPathMatchesCpu) {
  cu::CudnnAttention* a = nullptr;
  const cu::Status st = cu::cudnn_attention_create(&a);
  NC_CHECK(st.ok) << " " << st.message;
  if (!st.ok) return;
  check_training_form(2, 45, 4, 2, 64, 130, a);
  check_training_form(1, 128, 2, 2, 128, 140, a);
  NC_CHECK(!cu::cudnn_attention_supports(cu::AttnDims{1, 4, 2, 2, 64, 3})) << " the KV-cache form is SIMT only";
  cu::cudnn_attention_destroy(a);
}

NC_TEST(Attention, PathIsChosenAtRunTime) {
  const cu::AttnDims train{2, 40, 4, 2, 64, 0}, cached{2, 1, 4, 2, 64, 39}, odd_head{1, 8, 2, 2, 12, 0};
  cu::AttentionPaths p;
  setenv("NANOCHAT_ATTENTION", "bogus", 1);
  cu::Status st = cu::attention_paths_create(&p);
  NC_CHECK(!st.ok && st.message.find("NANOCHAT_ATTENTION") != std::string::npos) << " " << st.message;
  setenv("NANOCHAT_ATTENTION", "simt", 1);
  NC_CHECK(cu::attention_paths_create(&p).ok);
  NC_CHECK(cu::attention_impl_for(p, train) == cu::AttnImpl::Simt);
  cu::attention_paths_destroy(&p);
  unsetenv("NANOCHAT_ATTENTION");  // auto: cuDNN for the training form where it loads
  st = cu::attention_paths_create(&p);
  NC_CHECK(st.ok) << " " << st.message;
  NC_CHECK(p.cudnn != nullptr) << " cuDNN unavailable: " << p.cudnn_unavailable;
  NC_CHECK(cu::attention_impl_for(p, train) == cu::AttnImpl::Cudnn);
  NC_CHECK(cu::attention_impl_for(p, cached) == cu::AttnImpl::Simt) << " the KV-cache form is SIMT only";
  NC_CHECK(cu::attention_impl_for(p, odd_head) == cu::AttnImpl::Simt) << " head dim 12 is not cuDNN's";
  // Both paths through the dispatcher compute the same attention (each within 2^-8 of the exact one).
  const int64_t ld = (train.H + 2 * train.Hkv) * train.D, ldo = train.H * train.D, N = train.B * train.Tq;
  std::vector<float> qkv = randn_bf16((size_t)(N * ld), 150);
  DeviceBuffer<bf16> x(to_bf16(qkv)), o1(N * ldo), o2(N * ldo);
  DeviceBuffer<float> lse(train.B * train.H * train.Tq);
  const bf16 *q = x.p, *k = x.p + train.H * train.D, *v = x.p + (train.H + train.Hkv) * train.D;
  NC_CHECK(cu::attention_train_forward(p, o1.p, ldo, lse.p, q, k, v, ld, train, nullptr).ok);
  cu::AttentionPaths simt;
  NC_CHECK(cu::attention_train_forward(simt, o2.p, ldo, lse.p, q, k, v, ld, train, nullptr).ok);
  NC_CHECK_CLOSE("cudnn vs simt", to_double(o1.download()), to_double(o2.download()), 4 * kBf16Unit);
  cu::attention_paths_destroy(&p);
}

NC_TEST(Attention, KvCacheFormMatchesCpu) {
  // Prefill of 7 tokens (and decode, Tq = 1) over a cache holding 20 earlier positions.
  const int64_t B = 2, H = 4, Hkv = 1, D = 64, KV = Hkv * D, max_len = 40, pos0 = 20;
  for (const int64_t Tq : {7, 1}) {
    const int64_t ldq = H * D + 16, ldo = H * D;
    std::vector<float> q = randn_bf16((size_t)(B * Tq * ldq), 120 + (uint64_t)Tq);
    std::vector<float> kc = randn_bf16((size_t)(B * max_len * KV), 121), vc = randn_bf16(kc.size(), 122);
    DeviceBuffer<bf16> dq(to_bf16(q)), dk(to_bf16(kc)), dv(to_bf16(vc)), out(B * Tq * ldo);
    DeviceBuffer<float> lse(B * H * Tq);
    const cu::AttnDims s{B, Tq, H, Hkv, D, pos0};
    NC_REQUIRE_CUDA(cu::attention_forward(out.p, ldo, lse.p, dq.p, ldq, dk.p, KV, max_len * KV, dv.p, KV, max_len * KV,
                                          s, nullptr));
    std::vector<double> qd = to_double(q), kd = to_double(kc), vd = to_double(vc), oref((size_t)(B * Tq * ldo));
    std::vector<double> lref((size_t)(B * H * Tq));
    NC_CHECK(nc::attention_forward(oref.data(), ldo, lref.data(), qd.data(), ldq, kd.data(), KV, max_len * KV,
                                   vd.data(), KV, max_len * KV, nc::AttnShape{B, Tq, H, Hkv, D, pos0}));
    NC_CHECK_CLOSE("out", to_double(out.download()), oref, 2 * kBf16Unit);
    NC_CHECK_CLOSE("lse", to_double(lse.download()), lref, 1e-5);
  }
}

NC_TEST(Attention, RejectsBadShapes) {
  DeviceBuffer<bf16> x(64);
  const cu::AttnDims bad{1, 4, 3, 2, 8, 0};  // 3 query heads cannot share 2 KV heads
  NC_CHECK(cu::attention_forward(x.p, 8, nullptr, x.p, 8, x.p, 8, 32, x.p, 8, 32, bad, nullptr) == cudaErrorInvalidValue);
  const cu::AttnDims cached{1, 4, 2, 2, 8, 3};  // the backward is the training form only
  NC_CHECK(cu::attention_backward(x.p, x.p, x.p, 8, x.p, 8, x.p, 8, nullptr, x.p, x.p, x.p, 8, cached, nullptr,
                                  nullptr) == cudaErrorInvalidValue);
}
