// util.h — helpers of the CUDA kernel tests: device buffers, random inputs that are exactly
// representable in bf16 (so the kernel and the CPU reference see identical numbers), and error
// measures against a double-precision reference.
//
// Tolerances in the tests are argued from these facts: a bf16 has 8 significant bits, so rounding a
// value to bf16 (round to nearest even) moves it by at most its unit roundoff 2^-8 = 0.39% of its
// magnitude; fp32 arithmetic is ~6e-8 per operation, and a sum of n fp32 terms accumulates about
// sqrt(n) * 6e-8 relative (n * 6e-8 in the worst case).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "check.h"
#include "kernels.h"

namespace nc_test {

using nc::cuda::bf16;
constexpr double kBf16Unit = 1.0 / 256;  // unit roundoff of bf16: largest relative error of fp32 -> bf16

inline float bf16_round(float x) { return __bfloat162float(__float2bfloat16(x)); }
inline uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline uint16_t bits_of(bf16 b) {
  uint16_t u;
  std::memcpy(&u, &b, sizeof u);
  return u;
}
inline float float_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

template <typename T>
struct DeviceBuffer {
  T* p = nullptr;
  size_t n = 0;
  explicit DeviceBuffer(size_t count) : n(count) {
    const cudaError_t e = cudaMalloc(&p, std::max<size_t>(1, n) * sizeof(T));
    NC_CHECK(e == cudaSuccess) << " cudaMalloc of " << n * sizeof(T) << " bytes: " << cudaGetErrorString(e);
    if (e != cudaSuccess) p = nullptr;
  }
  DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(p); }
  void upload(const std::vector<T>& host) {
    NC_CHECK(host.size() == n) << " upload of " << host.size() << " elements into " << n;
    if (p && host.size() == n) NC_CHECK(cudaMemcpy(p, host.data(), n * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess);
  }
  std::vector<T> download() const {
    std::vector<T> host(n);
    if (p) NC_CHECK(cudaMemcpy(host.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
    return host;
  }
  // Fills with a byte pattern (0xFF: NaN in float and bf16) so unwritten outputs show.
  void poison() {
    if (p) NC_CHECK(cudaMemset(p, 0xFF, n * sizeof(T)) == cudaSuccess);
  }
  explicit operator bool() const { return p != nullptr; }
};

// Normal(0, scale) values rounded to bf16, as float (exactly representable in both types).
inline std::vector<float> randn_bf16(size_t n, uint64_t seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, scale);
  std::vector<float> v(n);
  for (float& e : v) e = bf16_round((float)nd(rng));
  return v;
}
inline std::vector<float> randn_f32(size_t n, uint64_t seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, scale);
  std::vector<float> v(n);
  for (float& e : v) e = (float)nd(rng);
  return v;
}
inline std::vector<int32_t> rand_ints(size_t n, int32_t bound, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> v(n);
  for (int32_t& e : v) e = (int32_t)(rng() % (uint64_t)bound);
  return v;
}

inline std::vector<bf16> to_bf16(const std::vector<float>& v) {
  std::vector<bf16> o(v.size());
  for (size_t i = 0; i < v.size(); i++) o[i] = __float2bfloat16(v[i]);
  return o;
}
inline std::vector<double> to_double(const std::vector<bf16>& v) {
  std::vector<double> o(v.size());
  for (size_t i = 0; i < v.size(); i++) o[i] = (double)__bfloat162float(v[i]);
  return o;
}
template <typename T>
std::vector<double> to_double(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

struct Error {
  double max_abs = 0;     // max |got - ref|
  double scaled = 0;      // max |got - ref| / max |ref|: error relative to the tensor's scale
  double max_rel = 0;     // max |got - ref| / |ref| over elements with |ref| >= 1e-3 max|ref|
  bool finite = true;     // every value of got is finite (a NaN never passes)
};
inline Error compare(const std::vector<double>& got, const std::vector<double>& ref) {
  Error e;
  double ref_max = 1e-30;
  for (double r : ref) ref_max = std::max(ref_max, std::fabs(r));
  NC_CHECK(got.size() == ref.size()) << " sizes " << got.size() << " vs " << ref.size();
  for (size_t i = 0; i < std::min(got.size(), ref.size()); i++) {
    if (!std::isfinite(got[i])) {
      e.finite = false;
      continue;
    }
    const double d = std::fabs(got[i] - ref[i]);
    e.max_abs = std::max(e.max_abs, d);
    if (std::fabs(ref[i]) >= 1e-3 * ref_max) e.max_rel = std::max(e.max_rel, d / std::fabs(ref[i]));
  }
  e.scaled = e.max_abs / ref_max;
  return e;
}

// Checks compare(got, ref).scaled <= tol (and finiteness), recording the measured error.
#define NC_CHECK_CLOSE(name, got, ref, tol)                                                             \
  do {                                                                                                  \
    const ::nc_test::Error nc_err_ = ::nc_test::compare((got), (ref));                                  \
    ::nc_test::note(name, nc_err_.scaled);                                                              \
    NC_CHECK(nc_err_.finite) << " " << name << ": non-finite values in the output";                     \
    NC_CHECK(nc_err_.scaled <= (tol)) << " " << name << ": error " << nc_err_.scaled << " (max abs "      \
                                      << nc_err_.max_abs << ") over tolerance " << (tol);                \
  } while (0)

}  // namespace nc_test
