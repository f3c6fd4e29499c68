// matmul_validate.cpp — argument checks of matmul(), shared by the cuBLASLt route and the emulator's.
#include <string>

#include "matmul.h"

namespace nc::cuda {

Status matmul_validate(const Gemm& g) {
  auto bad = [&](const char* why) {
    return Status::fail(std::string("matmul: ") + why + " (M=" + std::to_string(g.M) + " N=" + std::to_string(g.N) +
                        " K=" + std::to_string(g.K) + ")");
  };
  if (g.M < 0 || g.N < 0 || g.K < 1 || g.batch < 1) return bad("negative size, K < 1 or batch < 1");
  if (!g.D || !g.A || !g.B) return bad("null A, B or D");
  if (g.beta != 0.0f && !g.C) return bad("beta != 0 needs C");
  const int64_t a_cols = g.ta ? g.M : g.K, b_cols = g.tb ? g.K : g.N;
  if (g.lda < a_cols || g.ldb < b_cols || g.ldd < g.N || (g.C && g.ldc < g.N)) return bad("leading dimension too small");
  if (g.C == g.D && g.C && g.ldc != g.ldd) return bad("C aliases D with another leading dimension");
  return Status::success();
}

}  // namespace nc::cuda
