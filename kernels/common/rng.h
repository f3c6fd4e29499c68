// rng.h — the two documented RNG streams of nanochat.h, shared by every backend (the functions compile
// for CUDA devices too): the init RNG (nc_model_init_weights: SplitMix64 outputs addressed by element
// index, turned into normals with Box-Muller) and the sampling RNG (nc_model_decode_sample: one uniform
// per row and position). Counter-based, so any value can be generated independently, in parallel and in
// any language.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define NC_HOST_DEVICE __host__ __device__
#else
#define NC_HOST_DEVICE
#endif

namespace nc {

NC_HOST_DEVICE inline uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// The stream key of parameter tensor `index` under `seed`.
NC_HOST_DEVICE inline uint64_t rng_key(uint64_t seed, uint64_t index) {
  return splitmix64_mix(seed ^ splitmix64_mix(index + 1));
}

// u(j): the j-th output of SplitMix64 started at `key`, as a double in [0, 1).
NC_HOST_DEVICE inline double rng_uniform(uint64_t key, uint64_t j) {
  uint64_t z = splitmix64_mix(key + (j + 1) * 0x9E3779B97F4A7C15ULL);
  return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

// Standard normals for elements 2k and 2k+1.
NC_HOST_DEVICE inline void rng_normal_pair(uint64_t key, uint64_t k, double* z0, double* z1) {
  const double two_pi = 6.283185307179586476925286766559;
  double u1 = 1.0 - rng_uniform(key, 2 * k);  // (0, 1]
  double u2 = rng_uniform(key, 2 * k + 1);
  double r = std::sqrt(-2.0 * std::log(u1));
  *z0 = r * std::cos(two_pi * u2);
  *z1 = r * std::sin(two_pi * u2);
}

// The sampling uniform of a row with `seed` choosing the token at cache position `pos`.
NC_HOST_DEVICE inline double sample_uniform(uint64_t seed, int64_t pos) {
  return rng_uniform(splitmix64_mix(seed), (uint64_t)pos);
}

}  // namespace nc
