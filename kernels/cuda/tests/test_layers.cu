// test_layers.cu — the pointwise and per-row layer kernels against the CPU backend's kernels (ops.h),
// run in double on the same bf16-representable inputs: embedding, RMSNorm, rotary + QK norm, relu^2,
// the KV-cache append, the fp32 -> bf16 copy. Each tolerance is argued next to its check.
#include <cstring>
#include <vector>

#include "ops.h"
#include "util.h"

using namespace nc_test;
namespace cu = nc::cuda;

// ---- embedding -----------------------------------------------------------------------------------
NC_TEST(Embedding, ForwardGathersRowsExactly) {
  const int64_t N = 300, C = 40, V = 50;
  std::vector<float> wte = randn_bf16((size_t)(V * C), 1);
  std::vector<int32_t> idx = rand_ints((size_t)N, (int32_t)V, 2);
  DeviceBuffer<bf16> dw(to_bf16(wte)), out(N * C);
  DeviceBuffer<float> dwf(wte), outf(N * C);
  DeviceBuffer<int32_t> di(idx);
  out.poison();
  NC_REQUIRE_CUDA(cu::embedding_forward(out.p, dw.p, di.p, N, C, nullptr));
  NC_REQUIRE_CUDA(cu::embedding_forward(outf.p, dwf.p, di.p, N, C, nullptr));
  std::vector<float> ref((size_t)(N * C));
  nc::embedding_forward(ref.data(), wte.data(), idx.data(), N, C);
  // A gather copies: bitwise equal in both types.
  NC_CHECK(to_double(out.download()) == to_double(ref));
  NC_CHECK(outf.download() == ref);
}

NC_TEST(Embedding, BackwardIsDeterministicAndMatchesCpu) {
  const int64_t N = 777, C = 48, V = 40;  // many repeated tokens per row of dwte
  std::vector<int32_t> idx = rand_ints((size_t)N, (int32_t)V, 3);
  for (int64_t n = 0; n < 100; n++) idx[(size_t)n] = 7;  // one very frequent token
  std::vector<float> dout = randn_f32((size_t)(N * C), 4);
  std::vector<float> dw0 = randn_f32((size_t)(V * C), 5);
  DeviceBuffer<float> ddout(dout), dw(dw0);
  DeviceBuffer<int32_t> di(idx);
  const size_t scratch_bytes = cu::embedding_backward_scratch_bytes(N);
  DeviceBuffer<unsigned char> scratch(scratch_bytes);
  NC_REQUIRE_CUDA(cu::embedding_backward(dw.p, ddout.p, di.p, N, C, V, scratch.p, scratch_bytes, nullptr));
  std::vector<float> first = dw.download();
  std::vector<double> ref = to_double(dw0), dd = to_double(dout);
  nc::embedding_backward(ref.data(), dd.data(), idx.data(), N, C);
  // fp32 sums of up to ~120 terms of O(1) onto O(1) values: ~1e-6 of the scale; 1e-5 allowed.
  NC_CHECK_CLOSE("dwte", to_double(first), ref, 1e-5);
  // Same inputs, same bits: no atomics, fixed summation order.
  dw.upload(dw0);
  NC_REQUIRE_CUDA(cu::embedding_backward(dw.p, ddout.p, di.p, N, C, V, scratch.p, scratch_bytes, nullptr));
  NC_CHECK(dw.download() == first) << " the backward is not bitwise reproducible";
  // Too little scratch is refused, not overrun.
  NC_CHECK(cu::embedding_backward(dw.p, ddout.p, di.p, N, C, V, scratch.p, scratch_bytes - 1, nullptr) ==
           cudaErrorInvalidValue);
}

// ---- RMSNorm -------------------------------------------------------------------------------------
NC_TEST(RmsNorm, ForwardAndBackwardMatchCpu) {
  const int64_t N = 70, C = 200, ld = 230;
  std::vector<float> x = randn_f32((size_t)(N * ld), 6, 3.0);
  DeviceBuffer<float> dx(x), rstd(N);
  DeviceBuffer<bf16> y(N * ld);
  DeviceBuffer<float> yf(N * ld);
  y.poison();
  NC_REQUIRE_CUDA(cu::rmsnorm_forward(y.p, ld, rstd.p, dx.p, ld, N, C, nullptr));
  std::vector<double> xd = to_double(x), yref((size_t)(N * ld), 0.0), rref((size_t)N);
  nc::rmsnorm_forward(yref.data(), ld, rref.data(), xd.data(), ld, N, 1, C);
  std::vector<bf16> yb = y.download();
  std::vector<double> got, want;
  for (int64_t t = 0; t < N; t++)
    for (int64_t i = 0; i < C; i++) {
      got.push_back(__bfloat162float(yb[(size_t)(t * ld + i)]));
      want.push_back(yref[(size_t)(t * ld + i)]);
    }
  // y = x * r in fp32 (sum of 200 squares: ~1e-6 relative), then one rounding to bf16 (<= 2^-8 relative):
  // every element within 2^-8 + 1e-5 of the exact value, relative to itself.
  const Error e = compare(got, want);
  note("y_max_rel", e.max_rel);
  NC_CHECK(e.finite && e.max_rel <= kBf16Unit + 1e-5) << " y error " << e.max_rel;
  NC_CHECK_CLOSE("rstd", to_double(rstd.download()), rref, 1e-5);

  // Backward from the kernel's own bf16 y (the reference gets the same y): only fp32 arithmetic differs.
  std::vector<float> dy = randn_f32((size_t)(N * ld), 7);
  std::vector<float> acc0 = randn_f32((size_t)(N * ld), 8);
  DeviceBuffer<float> ddy(dy), dxo(acc0);
  DeviceBuffer<bf16> dxb(N * C);  // the bf16 copy, packed (ldb = C)
  dxb.poison();
  NC_REQUIRE_CUDA(
      cu::rmsnorm_backward(dxo.p, ld, ddy.p, ld, (const bf16*)y.p, ld, rstd.p, N, C, true, nullptr, dxb.p, C));
  std::vector<double> yd = to_double(yb), rd = to_double(rstd.download()), dyd = to_double(dy), ref = to_double(acc0);
  nc::rmsnorm_backward(ref.data(), ld, dyd.data(), ld, yd.data(), ld, rd.data(), N, 1, C, true);
  // dot of 200 terms in fp32 then a few operations: ~2e-6 of the scale.
  const std::vector<float> dxh0 = dxo.download();
  NC_CHECK_CLOSE("dx (accumulated)", to_double(dxh0), ref, 1e-5);
  // the bf16 copy is exactly the rounding of the fp32 result
  const std::vector<bf16> dxbh = dxb.download();
  int64_t bad = 0;
  for (int64_t t = 0; t < N; t++)
    for (int64_t i = 0; i < C; i++)
      bad += bits_of(dxbh[(size_t)(t * C + i)]) != bits_of(__float2bfloat16(dxh0[(size_t)(t * ld + i)]));
  NC_CHECK(bad == 0) << bad << " bf16 copies differ from the rounded fp32 dx";

  // fp32 output variant (after the embedding) and overwrite mode.
  NC_REQUIRE_CUDA(cu::rmsnorm_forward(yf.p, ld, rstd.p, dx.p, ld, N, C, nullptr));
  std::vector<float> yfh = yf.download();
  got.clear();
  for (int64_t t = 0; t < N; t++)
    for (int64_t i = 0; i < C; i++) got.push_back(yfh[(size_t)(t * ld + i)]);
  NC_CHECK_CLOSE("y fp32", got, want, 1e-5);
  NC_REQUIRE_CUDA(cu::rmsnorm_backward(dxo.p, ld, ddy.p, ld, (const float*)yf.p, ld, rstd.p, N, C, false, nullptr));
  std::vector<double> ref2((size_t)(N * ld), 0.0), yfd = to_double(yfh);
  nc::rmsnorm_backward(ref2.data(), ld, dyd.data(), ld, yfd.data(), ld, rd.data(), N, 1, C, false);
  std::vector<float> dxh = dxo.download();
  got.clear();
  want.clear();
  for (int64_t t = 0; t < N; t++)
    for (int64_t i = 0; i < C; i++) {
      got.push_back(dxh[(size_t)(t * ld + i)]);
      want.push_back(ref2[(size_t)(t * ld + i)]);
    }
  NC_CHECK_CLOSE("dx (written)", got, want, 1e-5);
}

// ---- rotary + QK norm ----------------------------------------------------------------------------
NC_TEST(RopeQkNorm, ForwardAndBackwardMatchCpu) {
  const int64_t B = 2, T = 9, pos0 = 5, H = 4, Hkv = 2, D = 64, heads = H + Hkv, ld = (H + 2 * Hkv) * D + 8;
  const int64_t len = 32, N = B * T;
  std::vector<float> cs((size_t)(len * D / 2)), sn(cs.size());
  nc::rotary_table(cs.data(), sn.data(), len, D, 10000.0);
  std::vector<float> x = randn_bf16((size_t)(N * ld), 9, 2.0);
  DeviceBuffer<bf16> dx(to_bf16(x));
  DeviceBuffer<float> dcos(cs), dsin(sn), rstd(N * heads);
  NC_REQUIRE_CUDA(cu::rope_qknorm_forward(dx.p, ld, rstd.p, dcos.p, dsin.p, B, T, pos0, heads, D, nullptr));
  std::vector<double> ref = to_double(x), rref((size_t)(N * heads));
  nc::rotary_forward(ref.data(), ld, cs.data(), sn.data(), B, T, pos0, heads, D);
  nc::rmsnorm_forward(ref.data(), ld, rref.data(), ref.data(), ld, N, heads, D);
  std::vector<bf16> y = dx.download();
  std::vector<double> got = to_double(y);
  // The v heads (and the padding) are untouched; q and k heads: fp32 rotation and norm (~1e-6), then one
  // bf16 rounding (2^-8 of each value).
  std::vector<double> g_qk, r_qk;
  for (int64_t r = 0; r < N; r++) {
    for (int64_t i = 0; i < ld; i++) {
      const size_t e = (size_t)(r * ld + i);
      if (i < heads * D) {
        g_qk.push_back(got[e]);
        r_qk.push_back(ref[e]);
      } else {
        NC_CHECK(got[e] == (double)x[e]) << " element " << i << " of row " << r << " outside q|k changed";
      }
    }
  }
  const Error e = compare(g_qk, r_qk);
  note("y_max_rel", e.max_rel);
  NC_CHECK(e.finite && e.max_rel <= kBf16Unit + 1e-5) << " q|k error " << e.max_rel;
  NC_CHECK_CLOSE("rstd", to_double(rstd.download()), rref, 1e-5);

  // Backward: dout of the normalized heads, against the CPU's norm backward then inverse rotation, both
  // from the kernel's bf16 y. Output rounded to bf16 once: 2^-8 of each value; relative to the scale of
  // the gradient (elements near zero after cancellation), 2^-7 allowed.
  std::vector<float> dy = randn_bf16((size_t)(N * ld), 10);
  DeviceBuffer<bf16> dg(to_bf16(dy));
  NC_REQUIRE_CUDA(cu::rope_qknorm_backward(dg.p, ld, (const bf16*)dx.p, ld, rstd.p, dcos.p, dsin.p, B, T, pos0, heads,
                                           D, nullptr));
  std::vector<double> gref = to_double(dy), yd = to_double(y), rd = to_double(rstd.download());
  nc::rmsnorm_backward(gref.data(), ld, gref.data(), ld, yd.data(), ld, rd.data(), N, heads, D, false);
  nc::rotary_backward(gref.data(), ld, cs.data(), sn.data(), B, T, pos0, heads, D);
  std::vector<double> gg = to_double(dg.download()), a, b;
  for (int64_t r = 0; r < N; r++)
    for (int64_t i = 0; i < heads * D; i++) {
      a.push_back(gg[(size_t)(r * ld + i)]);
      b.push_back(gref[(size_t)(r * ld + i)]);
    }
  NC_CHECK_CLOSE("dqk", a, b, 2 * kBf16Unit);
}

// ---- relu^2 --------------------------------------------------------------------------------------
NC_TEST(Relu2, ForwardAndBackwardAreExactlyRounded) {
  // bf16 h: h*h and 2*h*dout are exact in fp32 (8-bit significands), so each output is the exact value
  // rounded once to bf16 — the kernels must match that bit for bit, packed (n % 8 == 0, aligned) or not.
  for (const int64_t n : {4096, 1001}) {
    for (const int64_t offset : {0, 1}) {
      std::vector<float> h = randn_bf16((size_t)(n + offset), 11), dout = randn_bf16((size_t)(n + offset), 12);
      DeviceBuffer<bf16> dh(to_bf16(h)), dd(to_bf16(dout)), out(n + offset), dgrad(n + offset);
      NC_REQUIRE_CUDA(cu::relu2_forward(out.p + offset, dh.p + offset, n, nullptr));
      NC_REQUIRE_CUDA(cu::relu2_backward(dgrad.p + offset, (const bf16*)dd.p + offset, dh.p + offset, n, nullptr));
      std::vector<bf16> o = out.download(), g = dgrad.download();
      int bad_f = 0, bad_b = 0;
      for (int64_t i = offset; i < n + offset; i++) {
        const float r = h[(size_t)i] > 0 ? h[(size_t)i] : 0.0f;
        bad_f += __bfloat162float(o[(size_t)i]) != bf16_round(r * r);
        bad_b += __bfloat162float(g[(size_t)i]) != bf16_round(2.0f * r * dout[(size_t)i]);
      }
      NC_CHECK(bad_f == 0) << " n=" << n << " offset=" << offset << ": " << bad_f << " forward mismatches";
      NC_CHECK(bad_b == 0) << " n=" << n << " offset=" << offset << ": " << bad_b << " backward mismatches";
    }
  }
  // fp32 dout (the GEMM may write its output in fp32): same rule.
  const int64_t n = 999;
  std::vector<float> h = randn_bf16((size_t)n, 13), dout = randn_f32((size_t)n, 14);
  DeviceBuffer<bf16> dh(to_bf16(h)), dg(n);
  DeviceBuffer<float> dd(dout);
  NC_REQUIRE_CUDA(cu::relu2_backward(dg.p, (const float*)dd.p, dh.p, n, nullptr));
  std::vector<bf16> g = dg.download();
  int bad = 0;
  for (int64_t i = 0; i < n; i++) {
    const float r = h[(size_t)i] > 0 ? h[(size_t)i] : 0.0f;
    bad += __bfloat162float(g[(size_t)i]) != bf16_round(2.0f * r * dout[(size_t)i]);
  }
  NC_CHECK(bad == 0) << bad << " mismatches with fp32 dout";
}

// ---- KV cache ------------------------------------------------------------------------------------
NC_TEST(KvCache, AppendPlacesRowsAtTheirPositions) {
  const int64_t B = 3, T = 4, H = 4, Hkv = 2, D = 8, KV = Hkv * D, ld = (H + 2 * Hkv) * D, max_len = 12, pos0 = 5;
  std::vector<float> qkv = randn_bf16((size_t)(B * T * ld), 15);
  std::vector<float> k0 = randn_bf16((size_t)(B * max_len * KV), 16), v0 = randn_bf16(k0.size(), 17);
  DeviceBuffer<bf16> dq(to_bf16(qkv)), dk(to_bf16(k0)), dv(to_bf16(v0));
  NC_REQUIRE_CUDA(cu::kvcache_append(dk.p, dv.p, dq.p, ld, H * D, (H + Hkv) * D, B, T, pos0, max_len, KV, nullptr));
  std::vector<bf16> kc = dk.download(), vc = dv.download();
  for (int64_t b = 0; b < B; b++)
    for (int64_t p = 0; p < max_len; p++)
      for (int64_t c = 0; c < KV; c++) {
        const size_t e = (size_t)((b * max_len + p) * KV + c);
        const bool fresh = p >= pos0 && p < pos0 + T;
        const size_t src = (size_t)((b * T + (p - pos0)) * ld + c);
        NC_CHECK(__bfloat162float(kc[e]) == (fresh ? qkv[src + H * D] : k0[e])) << " k b=" << b << " p=" << p;
        NC_CHECK(__bfloat162float(vc[e]) == (fresh ? qkv[src + (H + Hkv) * D] : v0[e])) << " v b=" << b << " p=" << p;
      }
  // Past the end of the cache: refused.
  NC_CHECK(cu::kvcache_append(dk.p, dv.p, dq.p, ld, H * D, (H + Hkv) * D, B, T, max_len - 2, max_len, KV, nullptr) ==
           cudaErrorInvalidValue);
}

// ---- fp32 -> bf16 copies (convert.cu) ------------------------------------------------------------
NC_TEST(Convert, F32ToBf16RoundsToNearestEven) {
  const int64_t n = 300007;  // odd, more than one grid-stride pass
  std::vector<float> x = randn_f32((size_t)n, 18, 3.0);
  // exact ties (low 16 bits 0x8000) both ways, values that carry into the exponent, large and tiny ones
  const uint32_t specials[] = {0x3f808000u, 0x3f818000u, 0xbf808000u, 0x3f7fffffu, 0x7f7fffffu, 0x00000001u,
                               0x80000000u, 0x7f800000u, 0x47800000u};
  for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) std::memcpy(&x[i * 997], &specials[i], 4);
  DeviceBuffer<float> dx(x);
  DeviceBuffer<bf16> out((size_t)n);
  out.poison();
  NC_REQUIRE_CUDA(cu::f32_to_bf16(out.p, dx.p, n, nullptr));
  const std::vector<bf16> got = out.download();
  int64_t bad = 0;
  for (int64_t i = 0; i < n; i++) bad += bits_of(got[(size_t)i]) != bits_of(__float2bfloat16(x[(size_t)i]));
  NC_CHECK(bad == 0) << bad << " elements not rounded to nearest even";
  NC_CHECK(cu::f32_to_bf16(out.p, dx.p, 0, nullptr) == cudaSuccess);
  NC_CHECK(cu::f32_to_bf16(nullptr, dx.p, n, nullptr) == cudaErrorInvalidValue);
}
