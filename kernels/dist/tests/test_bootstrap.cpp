// test_bootstrap.cpp — joining a run: a rank that never shows up, ranks that disagree on the world size,
// two processes with the same rank, an id from another run, rank 0 gone before the others join; each
// ends in an error naming the problem within the timeout. And the store stops once everyone has joined.
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "ranks.h"
#include "store_server.h"

using nc::dist::Communicator;
using nc::dist::Errc;
using nc::dist::UniqueId;

namespace {

std::string expect_join_error(const UniqueId& id, int rank, int world, std::chrono::milliseconds timeout,
                              Errc code, const std::vector<std::string>& needles, double max_s) {
  std::unique_ptr<Communicator> c;
  nc::dist::CommOptions opts;
  opts.timeout = timeout;
  const auto t0 = std::chrono::steady_clock::now();
  nc::dist::Status st = nc::dist::create_gloo_communicator(id, rank, world, opts, &c);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (st.ok()) return "joined, but should have failed";
  if (c) return "a failed join left a communicator";
  if (st.code != code) return std::string("wanted ") + nc::dist::errc_name(code) + ", got " + nc::dist::errc_name(st.code) + ": " + st.message;
  for (const std::string& n : needles)
    if (st.message.find(n) == std::string::npos) return "message lacks '" + n + "': " + st.message;
  if (s > max_s) return "took " + std::to_string(s) + " s: " + st.message;
  return "";
}

void expect_all_ok(const std::vector<dist_test::RankOutcome>& out) {
  for (const auto& o : out) EXPECT_TRUE(o.exited && o.code == 0) << dist_test::describe(out);
}

}  // namespace

TEST(Bootstrap, MissingRankTimesOutNamingIt) {
  dist_test::RunOptions opt;
  opt.spawn = 2;  // rank 2 of 3 never starts
  auto out = dist_test::run_ranks(
      3,
      [](int r, const UniqueId& id) {
        return expect_join_error(id, r, 3, std::chrono::seconds(2), Errc::kTimeout,
                                 {"not yet connected to the bootstrap store: 2 (of 3)"}, 6.0);
      },
      opt);
  expect_all_ok(out);
}

// Rank 0 says 2, rank 1 says 3; `late` joins 300 ms after the other. The late one is refused with both
// sizes; the early one then times out (rank 1 early: rank 0's process, and its store, are gone).
void world_sizes_disagree(int late) {
  auto out = dist_test::run_ranks(2, [late](int r, const UniqueId& id) -> std::string {
    if (r == late) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::unique_ptr<Communicator> c;
    nc::dist::CommOptions opts;
    opts.timeout = std::chrono::seconds(2);
    nc::dist::Status st = nc::dist::create_gloo_communicator(id, r, r == 0 ? 2 : 3, opts, &c);
    if (st.ok()) return "joined with mismatched world sizes";
    if (r == late) {
      const std::string want = r == 1 ? "rank 1 says the world size is 3 but rank 0 said 2"
                                      : "rank 0 says the world size is 2 but rank 1 said 3";
      return st.code == Errc::kBootstrap && st.message.find(want) != std::string::npos ? "" : "late: " + st.message;
    }
    if (r == 0) return st.code == Errc::kTimeout ? "" : "early rank 0: " + st.message;
    const bool gone = st.code == Errc::kPeerFailed && st.message.find("went away (rank 0 exited?)") != std::string::npos;
    return gone || st.code == Errc::kTimeout ? "" : "early rank 1: " + st.message;
  });
  expect_all_ok(out);
}

TEST(Bootstrap, WorldSizesDisagreeRank1Late) { world_sizes_disagree(1); }
TEST(Bootstrap, WorldSizesDisagreeRank0Late) { world_sizes_disagree(0); }

TEST(Bootstrap, SameRankTwice) {
  auto out = dist_test::run_ranks(2, [](int, const UniqueId& id) -> std::string {
    std::unique_ptr<Communicator> c;
    nc::dist::CommOptions opts;
    opts.timeout = std::chrono::seconds(2);
    nc::dist::Status st = nc::dist::create_gloo_communicator(id, 0, 2, opts, &c);
    if (st.ok()) return "joined as a duplicate rank";
    if (st.code == Errc::kBootstrap) return st.message.find("joined twice") != std::string::npos ? "DUPLICATE" : st.message;
    return st.code == Errc::kTimeout ? "" : "unexpected: " + st.message;
  });
  int dup = 0;
  for (const auto& o : out) dup += o.message == "DUPLICATE";
  EXPECT_EQ(dup, 1) << dist_test::describe(out);
}

TEST(Bootstrap, IdOfAnotherRunIsRefused) {
  auto out = dist_test::run_ranks(1, [](int, const UniqueId& id) -> std::string {
    UniqueId other = id;
    other.bytes[8] ^= 0x5a;  // a different nonce, same store
    std::string err = expect_join_error(other, 0, 1, std::chrono::seconds(5), Errc::kBootstrap, {"another run"}, 5.0);
    if (!err.empty()) return err;
    std::unique_ptr<Communicator> c;
    return dist_test::join(id, 0, 1, std::chrono::seconds(5), &c);  // the right id still works
  });
  expect_all_ok(out);
}

TEST(Bootstrap, RankZeroGoneBeforeOthersJoin) {
  auto out = dist_test::run_ranks(2, [](int r, const UniqueId& id) -> std::string {
    if (r == 0) return "";  // exits at once: its store dies with it
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return expect_join_error(id, 1, 2, std::chrono::seconds(1), Errc::kTimeout,
                             {"cannot connect to the bootstrap store at 127.0.0.1:"}, 4.0);
  });
  expect_all_ok(out);
}

TEST(Bootstrap, StoreStopsOnceEveryoneJoined) {
  auto out = dist_test::run_ranks(3, [](int r, const UniqueId& id) -> std::string {
    std::unique_ptr<Communicator> c;
    std::string err = dist_test::join(id, r, 3, std::chrono::seconds(30), &c);
    if (!err.empty()) return err;
    if (r == 0) {
      for (int i = 0; i < 100 && nc::dist::running_store_servers() > 0; i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (nc::dist::running_store_servers() != 0) return "the bootstrap store is still running after every rank joined";
    }
    return c->barrier().ok() ? "" : "barrier after the store stopped failed";
  });
  expect_all_ok(out);
}
