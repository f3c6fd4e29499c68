// fastmath.h — exp and tanh for fp32 hot loops (softmax over 65536 logits per token, attention rows),
// written branch-free so the compiler vectorizes them. Accuracy: exp within 4e-7 relative on [-87, 88]
// (inputs are clamped there; exp(-87) ~ 1.6e-38 stands in for 0); tanh within ~1e-7 absolute.
// The double overloads call libm: the tests run the same kernels in double as an exact reference.
// Needs round-to-nearest (the default) and no -ffast-math reassociation; -fno-trapping-math (set in
// CMakeLists.txt) lets GCC if-convert the clamps and sign selects so the loops vectorize.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace nc {

inline float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  // x = k*ln2 + r, |r| <= ln2/2; k rounded with the 1.5*2^23 trick (round-to-nearest mode).
  float k = x * 1.44269504088896341f + 12582912.0f;
  k -= 12582912.0f;
  float r = x - k * 0.693145751953125f;  // ln2 split in a high part exact in float ...
  r = r - k * 1.42860682030941723e-06f;  // ... and the rest
  // Taylor to r^6: truncation error r^7/7! < 1.2e-7 relative on |r| <= 0.347.
  float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
  int32_t bits = ((int32_t)k + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// tanh(x) = sign(x) * (1 - e) / (1 + e) with e = exp(-2|x|).
inline float fast_tanh(float x) {
  float ax = x < 0.0f ? -x : x;
  float e = fast_exp(-2.0f * ax);
  float t = (1.0f - e) / (1.0f + e);
  return x < 0.0f ? -t : t;
}

inline float nc_exp(float x) { return fast_exp(x); }
inline double nc_exp(double x) { return std::exp(x); }
inline float nc_tanh(float x) { return fast_tanh(x); }
inline double nc_tanh(double x) { return std::tanh(x); }

}  // namespace nc

// Hot fp32 loops are compiled twice on x86-64 with GCC: for x86-64-v3 (AVX2 + FMA) and for the build's
// baseline, and the loader picks one for the CPU at hand (GCC function multiversioning).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NC_NO_CLONES)
#define NC_HOT_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define NC_HOT_CLONES
#endif
