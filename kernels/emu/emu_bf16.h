// emu_bf16.h — __nv_bfloat16 for the emulator: the bits of the upper half of an fp32, with the
// conversions the kernels use. fp32 -> bf16 rounds to nearest, ties to even, like cvt.rn.bf16.f32 on
// the GPU and cuda_bf16.h on the host: overflow becomes inf, fp32 subnormals round to bf16 subnormals
// (same exponent range), NaN becomes the canonical quiet NaN 0x7FFF. bf16 -> fp32 is exact.
// Deliberately no implicit conversions or operators: kernels convert explicitly, which compiles the
// same under nvcc (where cuda_bf16.h has more) and under g++ here.
#pragma once

#include <cstdint>
#include <cstring>

struct __nv_bfloat16 {
  uint16_t __x;
  __nv_bfloat16() = default;
};
struct alignas(4) __nv_bfloat162 {
  __nv_bfloat16 x, y;
};

namespace nc_emu {
inline uint16_t f32_to_bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fff;  // NaN
  const uint32_t lsb = (u >> 16) & 1u;
  return (uint16_t)((u + 0x7fffu + lsb) >> 16);  // carries into the exponent: rounds up to inf at the top
}
inline float bf16_bits_to_f32(uint16_t b) {
  const uint32_t u = (uint32_t)b << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
}  // namespace nc_emu

inline __nv_bfloat16 __float2bfloat16(float f) {
  __nv_bfloat16 r;
  r.__x = nc_emu::f32_to_bf16_bits(f);
  return r;
}
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __float2bfloat16(f); }
inline float __bfloat162float(__nv_bfloat16 b) { return nc_emu::bf16_bits_to_f32(b.__x); }
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) { return {__float2bfloat16(a), __float2bfloat16(b)}; }
inline __nv_bfloat162 __float22bfloat162_rn(float2 v) { return __floats2bfloat162_rn(v.x, v.y); }
inline float2 __bfloat1622float2(__nv_bfloat162 v) { return {__bfloat162float(v.x), __bfloat162float(v.y)}; }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 b) { return b.__x; }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) {
  __nv_bfloat16 r;
  r.__x = u;
  return r;
}
