// test_comm.cpp — every collective of the Gloo communicator, in 1, 2 and 3 real processes on 127.0.0.1,
// against the answer each rank computes locally: odd sizes, sizes above Gloo's 1 MiB segment, in-place
// forms, a Muon-style stacked buffer with zero padding, and sum vs average. Inputs are small dyadic
// numbers, so fp32 sums are exact and results can be compared with ==.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "ranks.h"

using nc::dist::Communicator;
using nc::dist::ReduceOp;
using nc::dist::UniqueId;

namespace {

// Rank r's i-th input: a multiple of 1/4 below 2^12, distinct across ranks and positions.
float value(int rank, size_t i) { return (float)((i * 7 + (size_t)rank * 13) % 4096) * 0.25f + (float)rank; }

float sum_over_ranks(int world, size_t i) {
  float s = 0;
  for (int r = 0; r < world; r++) s += value(r, i);
  return s;
}

#define RETURN_IF_FAILED(expr)                               \
  do {                                                       \
    nc::dist::Status st_ = (expr);                           \
    if (!st_.ok()) return std::string(#expr) + ": " + st_.message; \
  } while (0)

std::string mismatch(const char* what, size_t count, size_t i, float got, float want) {
  return std::string(what) + " (count " + std::to_string(count) + "): element " + std::to_string(i) + " is " +
         std::to_string(got) + ", expected " + std::to_string(want);
}

std::string check_all_reduce(Communicator& c, size_t count, ReduceOp op) {
  const int W = c.world_size();
  std::vector<float> x(count);
  for (size_t i = 0; i < count; i++) x[i] = value(c.rank(), i);
  RETURN_IF_FAILED(c.all_reduce(x.data(), count, op, nullptr));
  for (size_t i = 0; i < count; i++) {
    const float want = op == ReduceOp::kAvg ? sum_over_ranks(W, i) / (float)W : sum_over_ranks(W, i);
    if (x[i] != want) return mismatch("all_reduce", count, i, x[i], want);
  }
  return "";
}

// in_place: out is the rank's own chunk of the input buffer.
std::string check_reduce_scatter(Communicator& c, size_t count, ReduceOp op, bool in_place) {
  const int W = c.world_size(), r = c.rank();
  std::vector<float> in(count * W), out(count, -1.0f);
  for (size_t i = 0; i < in.size(); i++) in[i] = value(r, i);
  float* dst = in_place ? in.data() + (size_t)r * count : out.data();
  RETURN_IF_FAILED(c.reduce_scatter(in.data(), dst, count, op, nullptr));
  for (size_t i = 0; i < count; i++) {
    const size_t g = (size_t)r * count + i;
    const float want = op == ReduceOp::kAvg ? sum_over_ranks(W, g) / (float)W : sum_over_ranks(W, g);
    if (dst[i] != want) return mismatch("reduce_scatter", count, i, dst[i], want);
  }
  return "";
}

std::string check_all_gather(Communicator& c, size_t count, bool in_place) {
  const int W = c.world_size(), r = c.rank();
  std::vector<float> in(count), out(count * W, -1.0f);
  float* src = in_place ? out.data() + (size_t)r * count : in.data();
  for (size_t i = 0; i < count; i++) src[i] = value(r, i);
  RETURN_IF_FAILED(c.all_gather(src, out.data(), count, nullptr));
  for (int q = 0; q < W; q++)
    for (size_t i = 0; i < count; i++)
      if (out[q * count + i] != value(q, i)) return mismatch("all_gather", count, q * count + i, out[q * count + i], value(q, i));
  return "";
}

std::string check_broadcast(Communicator& c, size_t count, int root) {
  std::vector<float> x(count);
  for (size_t i = 0; i < count; i++) x[i] = value(c.rank(), i);
  RETURN_IF_FAILED(c.broadcast(x.data(), count, root, nullptr));
  for (size_t i = 0; i < count; i++)
    if (x[i] != value(root, i)) return mismatch("broadcast", count, i, x[i], value(root, i));
  return "";
}

// DistMuon's pattern on a group of K = 2*W - 1 matrices: stack with the last slot zero, reduce-scatter the
// average, change the owned slots, all-gather, and check every rank sees every owner's result.
std::string check_stacked_group(Communicator& c, size_t numel) {
  const int W = c.world_size(), r = c.rank();
  const int K = 2 * W - 1, S = 2;  // slots per rank, the last one of the stack is padding
  // slot (q, j) holds parameter j*W + q; its gradient on rank r is value(r, p*numel + i)
  std::vector<float> stack((size_t)W * S * numel, 0.0f);
  for (int q = 0; q < W; q++)
    for (int j = 0; j < S; j++) {
      const int p = j * W + q;
      if (p >= K) continue;
      for (size_t i = 0; i < numel; i++) stack[((size_t)q * S + j) * numel + i] = value(r, p * numel + i);
    }
  std::vector<float> mine((size_t)S * numel);
  RETURN_IF_FAILED(c.reduce_scatter(stack.data(), mine.data(), S * numel, ReduceOp::kAvg, nullptr));
  for (int j = 0; j < S; j++) {
    const int p = j * W + r;
    for (size_t i = 0; i < numel; i++) {
      const float want = p < K ? sum_over_ranks(W, p * numel + i) / (float)W : 0.0f;
      if (mine[j * numel + i] != want) return mismatch("stacked reduce_scatter", numel, j * numel + i, mine[j * numel + i], want);
      mine[j * numel + i] = want + (float)(p + 1);  // the owner's "update"
    }
  }
  RETURN_IF_FAILED(c.all_gather(mine.data(), stack.data(), S * numel, nullptr));
  for (int q = 0; q < W; q++)
    for (int j = 0; j < S; j++) {
      const int p = j * W + q;
      for (size_t i = 0; i < numel; i++) {
        const float want = p < K ? sum_over_ranks(W, p * numel + i) / (float)W + (float)(p + 1) : 0.0f + (float)(p + 1);
        const float got = stack[((size_t)q * S + j) * numel + i];
        if (got != want) return mismatch("stacked all_gather", numel, i, got, want);
      }
    }
  return "";
}

std::string every_collective(int rank, const UniqueId& id, int world) {
  std::unique_ptr<Communicator> c;
  std::string err = dist_test::join(id, rank, world, std::chrono::seconds(30), &c);
  if (!err.empty()) return err;
  if (c->rank() != rank || c->world_size() != world) return "rank/world_size accessors are wrong";
  // 1 and 7: odd; 1000: no power of two; (1<<18)+3 floats per chunk: more than Gloo's 1 MiB segment.
  for (size_t count : {(size_t)1, (size_t)7, (size_t)1000, (size_t)(1 << 18) + 3}) {
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAvg}) {
      if (!(err = check_all_reduce(*c, count, op)).empty()) return err;
      for (bool in_place : {false, true})
        if (!(err = check_reduce_scatter(*c, count, op, in_place)).empty()) return err;
    }
    for (bool in_place : {false, true})
      if (!(err = check_all_gather(*c, count, in_place)).empty()) return err;
    for (int root = 0; root < world; root++)
      if (!(err = check_broadcast(*c, count, root)).empty()) return err;
  }
  for (size_t numel : {(size_t)3, (size_t)(33 * 17)})
    if (!(err = check_stacked_group(*c, numel)).empty()) return err;
  RETURN_IF_FAILED(c->barrier());
  // Zero-sized calls are no-ops on every rank.
  RETURN_IF_FAILED(c->all_reduce(nullptr, 0, ReduceOp::kSum, nullptr));
  return "";
}

void run_every_collective(int world) {
  auto out = dist_test::run_ranks(world, [world](int r, const UniqueId& id) { return every_collective(r, id, world); });
  for (const auto& o : out) EXPECT_TRUE(o.exited && o.code == 0) << dist_test::describe(out);
}

}  // namespace

TEST(Comm, EveryCollectiveOneRank) { run_every_collective(1); }
TEST(Comm, EveryCollectiveTwoRanks) { run_every_collective(2); }
TEST(Comm, EveryCollectiveThreeRanks) { run_every_collective(3); }

TEST(Comm, BadArgumentsAreErrorsNotCrashes) {
  auto out = dist_test::run_ranks(2, [](int rank, const UniqueId& id) -> std::string {
    std::unique_ptr<Communicator> c;
    std::string err = dist_test::join(id, rank, 2, std::chrono::seconds(30), &c);
    if (!err.empty()) return err;
    nc::dist::Status st = c->all_reduce(nullptr, 4, ReduceOp::kSum, nullptr);
    if (st.code != nc::dist::Errc::kInvalidArgument || st.message.find("null buffer") == std::string::npos)
      return "null buffer: " + st.message;
    std::vector<float> x(8);
    st = c->broadcast(x.data(), 8, 2, nullptr);
    if (st.code != nc::dist::Errc::kInvalidArgument || st.message.find("root 2") == std::string::npos)
      return "bad root: " + st.message;
    st = c->all_gather(x.data() + 1, x.data(), 4, nullptr);  // overlaps but is not this rank's chunk
    if (st.code != nc::dist::Errc::kInvalidArgument) return "overlapping all_gather: " + st.message;
    if (st.message.find("kernels/dist/comm_gloo.cpp:") != 0) return "message lacks file:line: " + st.message;
    // The communicator still works after argument errors (they never reach Gloo).
    return check_all_reduce(*c, 5, ReduceOp::kSum);
  });
  for (const auto& o : out) EXPECT_TRUE(o.exited && o.code == 0) << dist_test::describe(out);
}
