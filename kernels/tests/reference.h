// reference.h — an independent, deliberately naive double-precision implementation of the nanochat A
// model (plain loops, no shared code with cpu/), used by the tests as the ground truth for the forward
// pass and, through central finite differences in double, for the gradients.
#pragma once

#include <cstdint>
#include <vector>

#include "nanochat.h"

struct RefModel {
  NcModelConfig cfg{};
  // Parameters in the table order of nanochat.h, each row-major [out, in].
  std::vector<std::vector<double>> params;

  // Mean cross-entropy over targets != -1 (0 if none). logits (optional): [B*T*V] after the softcap.
  // losses (optional): [B*T] per-token CE, 0 where ignored. pos0 shifts rotary positions (not used by
  // training; lets a test check position handling).
  double forward(const int32_t* inputs, const int32_t* targets, int B, int T, std::vector<double>* logits = nullptr,
                 std::vector<double>* losses = nullptr) const;
};

// Copies the parameters of a live model into a RefModel.
RefModel ref_from_model(NcModel* model);

// The compute dtype the tests run the backend at: fp32 where its first device has it, else bf16 (the
// cuda backend runs bf16 compute with fp32 master weights only).
int32_t test_compute_dtype();

// A small config used across the tests: vocab 37, C 16, H 4, Hkv 2, L 2, T 8, B 2, test_compute_dtype().
NcModelConfig tiny_config();

// Fills every parameter (including the ones nanochat inits to zero) with N(0, scale/sqrt(fan_in)) style
// values so that all gradient paths are exercised.
void randomize_params(NcModel* model, uint64_t seed, double scale = 1.0);

// Muon's update direction in double: Newton-Schulz 5 of G [rows, cols] (on the transpose when rows > cols,
// after G /= ||G||_F + 1e-7, coefficients 3.4445, -4.7750, 2.0315), returned as [rows, cols].
std::vector<double> ref_newton_schulz(const std::vector<double>& G, int rows, int cols);
