// embedding.cpp — token embedding (transformer.wte): a row gather forward, a scatter-add backward.
// The backward splits the channels among threads instead of the rows, so repeated tokens never race
// and the sum order (row order) is deterministic whatever the thread count.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "ops.h"

namespace nc {

template <typename T>
void embedding_forward(T* out, const T* wte, const int32_t* idx, int64_t N, int64_t C) {
#pragma omp parallel for schedule(static) if (N * C >= kMinParallelWork)
  for (int64_t n = 0; n < N; n++) std::memcpy(out + n * C, wte + (int64_t)idx[n] * C, sizeof(T) * (size_t)C);
}

template <typename T>
void embedding_backward(T* dwte, const T* dout, const int32_t* idx, int64_t N, int64_t C) {
#pragma omp parallel if (N * C >= kMinParallelWork)
  {
    int nt = omp_get_num_threads(), tid = omp_get_thread_num();
    // Channel slice of this thread, in multiples of 16 floats to keep cache lines apart.
    int64_t blocks = (C + 15) / 16;
    int64_t c0 = std::min(C, blocks * tid / nt * 16), c1 = std::min(C, blocks * (tid + 1) / nt * 16);
    for (int64_t n = 0; n < N && c0 < c1; n++) {
      T* dst = dwte + (int64_t)idx[n] * C;
      const T* src = dout + n * C;
      for (int64_t c = c0; c < c1; c++) dst[c] += src[c];
    }
  }
}

template void embedding_forward<float>(float*, const float*, const int32_t*, int64_t, int64_t);
template void embedding_forward<double>(double*, const double*, const int32_t*, int64_t, int64_t);
template void embedding_backward<float>(float*, const float*, const int32_t*, int64_t, int64_t);
template void embedding_backward<double>(double*, const double*, const int32_t*, int64_t, int64_t);

}  // namespace nc
