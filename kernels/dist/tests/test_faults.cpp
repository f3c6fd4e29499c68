// test_faults.cpp — a peer that dies or hangs turns the others' pending collective into an error within
// a stated bound, never a hang: SIGKILL (its sockets close, so the others fail at once, far below the
// timeout) during all_reduce and during reduce_scatter, and SIGSTOP (nothing closes, so the timeout
// fires). After a failure the communicator refuses further calls.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <vector>

#include "ranks.h"

using nc::dist::Communicator;
using nc::dist::Errc;
using nc::dist::ReduceOp;
using nc::dist::UniqueId;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTimeout = std::chrono::seconds(10);
// A killed peer must be noticed well before the timeout: this proves detection by the closed connection.
constexpr double kDeadPeerBoundSeconds = 3.0;

enum class Op { kAllReduce, kReduceScatter, kBarrier };

// Survivors run `op` until it fails, then report how long the failing call took and what it said.
std::string survive(Communicator& c, Op op, Errc want, double min_s, double max_s) {
  const int W = c.world_size();
  std::vector<float> buf((size_t)W * (1 << 18), 1.0f), out(1 << 18);
  for (int attempt = 0; attempt < 1000; attempt++) {
    const auto t0 = Clock::now();
    nc::dist::Status st = op == Op::kAllReduce       ? c.all_reduce(buf.data(), buf.size(), ReduceOp::kSum, nullptr)
                          : op == Op::kReduceScatter ? c.reduce_scatter(buf.data(), out.data(), out.size(), ReduceOp::kAvg, nullptr)
                                                     : c.barrier();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (st.ok()) continue;
    if (st.code != want)
      return "wanted " + std::string(nc::dist::errc_name(want)) + ", got " + nc::dist::errc_name(st.code) + ": " +
             st.message;
    if (s < min_s || s > max_s)
      return "the failing call took " + std::to_string(s) + " s, outside [" + std::to_string(min_s) + ", " +
             std::to_string(max_s) + "]: " + st.message;
    if (st.message.find("kernels/dist/comm_gloo.cpp:") != 0) return "message lacks file:line: " + st.message;
    nc::dist::Status again = c.barrier();
    if (again.code != Errc::kState || again.message.find("failed earlier") == std::string::npos)
      return "a call after the failure was not refused: " + again.message;
    return "";
  }
  return "the peer's failure was never noticed";
}

// `victim` leaves the run by `sig` right after a barrier that everyone passed.
std::string body(int rank, const UniqueId& id, int world, int victim, int sig, Op op, Errc want, double min_s,
                 double max_s, std::chrono::milliseconds timeout) {
  std::unique_ptr<Communicator> c;
  std::string err = dist_test::join(id, rank, world, timeout, &c);
  if (!err.empty()) return err;
  if (!c->barrier().ok()) return "first barrier failed";
  if (rank == victim) {
    ::kill(::getpid(), sig);
    ::pause();  // SIGSTOP: the runner kills us later
    return "still alive";
  }
  return survive(*c, op, want, min_s, max_s);
}

// Runs `world` ranks where the last one leaves by `sig`; the survivors must see `want` within [min_s, max_s].
std::vector<dist_test::RankOutcome> run_fault(int world, int sig, Op op, Errc want, double min_s, double max_s,
                                              std::chrono::milliseconds timeout) {
  const int victim = world - 1;
  dist_test::RunOptions opt;
  for (int r = 0; r < victim; r++) opt.wait_for.push_back(r);
  auto out = dist_test::run_ranks(
      world,
      [=](int r, const UniqueId& id) { return body(r, id, world, victim, sig, op, want, min_s, max_s, timeout); },
      opt);
  for (int r = 0; r < victim; r++) {
    EXPECT_TRUE(out[r].exited && out[r].code == 0) << dist_test::describe(out);
  }
  return out;
}

}  // namespace

TEST(Faults, PeerKilledDuringAllReduce) {
  auto out = run_fault(3, SIGKILL, Op::kAllReduce, Errc::kPeerFailed, 0.0, kDeadPeerBoundSeconds, kTimeout);
  EXPECT_EQ(out[2].signal, SIGKILL) << dist_test::describe(out);
}

TEST(Faults, PeerKilledDuringReduceScatter) {
  run_fault(2, SIGKILL, Op::kReduceScatter, Errc::kPeerFailed, 0.0, kDeadPeerBoundSeconds, kTimeout);
}

// Nothing closes when a process stops: the 2 s timeout must fire (and not much later).
TEST(Faults, HungPeerTimesOut) {
  run_fault(2, SIGSTOP, Op::kAllReduce, Errc::kTimeout, 1.5, 5.0, std::chrono::seconds(2));
}

TEST(Faults, HungPeerTimesOutInBarrier) {
  run_fault(2, SIGSTOP, Op::kBarrier, Errc::kTimeout, 1.5, 5.0, std::chrono::seconds(2));
}
