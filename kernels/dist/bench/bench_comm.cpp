// bench_comm.cpp — time of the Gloo communicator's collectives between N processes on this host (loopback
// TCP), and single-thread memcpy bandwidth as the machine's ceiling for moving bytes. Prints one JSON
// line (rank 0). Usage: nanochat_dist_bench [--ranks N] [--floats F] [--iters K]
//   F = floats in the full buffer (all_reduce's buffer, reduce_scatter's input, all_gather's output).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../tests/ranks.h"

using nc::dist::Communicator;
using nc::dist::ReduceOp;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double memcpy_gbps(size_t floats) {
  std::vector<float> a(floats, 1.0f), b(floats);
  std::vector<double> t;
  for (int i = 0; i < 5; i++) {
    const auto t0 = Clock::now();
    std::memcpy(b.data(), a.data(), floats * sizeof(float));
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    a[i] = b[i + 1];  // keep the copies observable
  }
  return floats * sizeof(float) / median(t) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  int ranks = 2, iters = 10;
  size_t floats = 1 << 22;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--ranks") ranks = std::atoi(argv[i + 1]);
    else if (a == "--floats") floats = std::strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--iters") iters = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  if (ranks < 2 || iters < 1 || floats % ranks != 0) {
    std::fprintf(stderr, "need --ranks >= 2, --iters >= 1 and --floats divisible by --ranks\n");
    return 2;
  }
  const double copy_gbps = memcpy_gbps(floats);
  auto out = dist_test::run_ranks(ranks, [&](int rank, const nc::dist::UniqueId& id) -> std::string {
    std::unique_ptr<Communicator> c;
    std::string err = dist_test::join(id, rank, ranks, std::chrono::seconds(60), &c);
    if (!err.empty()) return err;
    const size_t chunk = floats / ranks;
    std::vector<float> big(floats, 1.0f), small(chunk, 1.0f);
    std::vector<double> ar, rs, ag;
    for (int it = 0; it <= iters; it++) {  // iteration 0 warms up
      auto timed = [&](std::vector<double>* into, auto&& call) -> std::string {
        if (!c->barrier().ok()) return "barrier failed";
        const auto t0 = Clock::now();
        nc::dist::Status st = call();
        if (!st.ok()) return st.message;
        if (it > 0) into->push_back(std::chrono::duration<double>(Clock::now() - t0).count());
        return "";
      };
      if (!(err = timed(&ar, [&] { return c->all_reduce(big.data(), floats, ReduceOp::kSum, nullptr); })).empty()) return err;
      if (!(err = timed(&rs, [&] { return c->reduce_scatter(big.data(), small.data(), chunk, ReduceOp::kAvg, nullptr); })).empty())
        return err;
      if (!(err = timed(&ag, [&] { return c->all_gather(small.data(), big.data(), chunk, nullptr); })).empty()) return err;
    }
    if (rank == 0)
      std::printf(
          "{\"ranks\": %d, \"floats\": %zu, \"iters\": %d, \"all_reduce_s\": %.6g, \"reduce_scatter_s\": %.6g, "
          "\"all_gather_s\": %.6g, \"memcpy_gbps\": %.4g}\n",
          ranks, floats, iters, median(ar), median(rs), median(ag), copy_gbps);
    std::fflush(stdout);
    return "";
  });
  for (const auto& o : out)
    if (!o.exited || o.code != 0) {
      std::fprintf(stderr, "bench failed:%s\n", dist_test::describe(out).c_str());
      return 1;
    }
  return 0;
}
