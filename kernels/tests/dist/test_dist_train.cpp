// test_dist_train.cpp — the cpu backend's communicator and distributed optimizer through the C ABI, on
// 2 and 3 real processes: N ranks each backpropagating their rows of a global batch end every step with
// the parameters of one rank backpropagating the whole batch (DistAdamW + DistMuon against the plain
// optimizer, clipping on the global norm included); the optimizer-state table is sharded as the plan
// says and its shards cover every element exactly once; a model rebuilt from its shards continues bit
// for bit; metrics sum exactly; a dead peer is NC_ERR_PEER_FAILED and a hung one NC_ERR_TIMEOUT, bounded;
// the options' transport host is used (an address of another machine fails, named).
//
// Tolerance for N ranks vs 1: the averaged gradients differ from the one-rank gradient by float
// rounding only (the per-rank sums and the Gloo sum / N reassociate the row sum; ~1e-7 relative), and
// a few AdamW/Muon steps carry that to ~1e-6 of the parameters' scale; 2e-5 absolute on parameters of
// magnitude ~0.1-1 leaves room while a wrong average (sum instead of mean, a rank's rows dropped or a
// stale slot gathered) moves entries by 1e-3 or more.
#include <gtest/gtest.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "nanochat.h"
#include "reference.h"
#include "world.h"

namespace {

using world_test::Outcome;
using world_test::run_world;

constexpr double kParamTol = 2e-5;
constexpr int kT = 8;

#define TRY_OK(expr)                                                                                        \
  do {                                                                                                      \
    const int32_t st_ = (expr);                                                                             \
    if (st_ != NC_OK)                                                                                       \
      return std::string(#expr) + " -> " + nc_status_string(st_) + ": " + nc_last_error(nullptr);            \
  } while (0)
#define TRY_STR(expr)                  \
  do {                                 \
    const std::string e_ = (expr);     \
    if (!e_.empty()) return e_;        \
  } while (0)

double seconds_now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// vocab 64: wte and lm_head [64, 16] have 1024 elements, so DistAdamW shards them at 2 ranks (64 % 2 == 0)
// and replicates them at 3; the matrices form groups of 4 ([16,16]), 4 ([8,16]), 2 and 2, so 3 ranks pad.
NcModelConfig dist_config() {
  NcModelConfig c = tiny_config();
  c.vocab_size = 64;
  c.max_batch = 4;
  return c;
}

NcOptimStep step_values() {
  NcOptimStep s;
  std::memset(&s, 0, sizeof s);
  s.lr_embedding = 0.2;
  s.lr_unembedding = 0.004;
  s.lr_matrix = 0.02;
  s.muon_momentum = 0.95;
  s.adam_beta1 = 0.8;
  s.adam_beta2 = 0.95;
  s.adam_eps = 1e-10;
  s.weight_decay = 0.01;
  s.grad_scale = 1.0;
  return s;
}

std::vector<int32_t> tokens(int rows, uint64_t seed) {
  std::vector<int32_t> v((size_t)rows * kT);
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (int32_t& e : v) {
    z ^= z << 13;
    z ^= z >> 7;
    z ^= z << 17;
    e = (int32_t)(z % 64);
  }
  return v;
}

struct Handles {
  NcContext* ctx = nullptr;
  NcComm* comm = nullptr;
  std::vector<NcModel*> models;
  ~Handles() {
    for (NcModel* m : models) nc_model_destroy(m);
    nc_comm_destroy(comm);
    nc_context_destroy(ctx);
  }
};

std::string open_rank(Handles& h, int rank, int world, const NcCommId& id, const NcCommOptions& opts) {
  NcContextConfig cc;
  std::memset(&cc, 0, sizeof cc);
  cc.num_threads = 1;
  TRY_OK(nc_context_create(&cc, &h.ctx));
  TRY_OK(nc_comm_create(h.ctx, &id, rank, world, &opts, &h.comm));
  return "";
}

std::string new_model(Handles& h, bool attach, uint64_t seed, NcModel** out) {
  const NcModelConfig cfg = dist_config();
  TRY_OK(nc_model_create(h.ctx, &cfg, out));
  h.models.push_back(*out);
  randomize_params(*out, seed, 1.0);
  if (attach) TRY_OK(nc_model_attach_comm(*out, h.comm));
  return "";
}

int num_params(NcModel* m) {
  int32_t n = 0;
  nc_model_num_params(m, &n);
  return n;
}

std::vector<float> param(NcModel* m, int i) {
  NcParamInfo info;
  nc_model_param_info(m, i, &info);
  std::vector<float> v((size_t)info.numel);
  nc_model_param_read(m, i, v.data(), info.numel);
  return v;
}

// One optimizer step of model m on rows [row0, row0 + rows) of step k's global batch; clip > 0 clips on the
// (global) gradient norm, which is returned in *norm.
std::string train_step(NcModel* m, int k, int global_rows, int row0, int rows, double clip, double* norm,
                       double* loss) {
  const std::vector<int32_t> in = tokens(global_rows, 2 * (uint64_t)k + 1), tg = tokens(global_rows, 2 * (uint64_t)k + 2);
  TRY_OK(nc_model_zero_grad(m));
  TRY_OK(nc_model_forward_backward(m, in.data() + (size_t)row0 * kT, tg.data() + (size_t)row0 * kT, rows, kT, 1.0f));
  NcLossStats stats;
  TRY_OK(nc_model_loss_stats(m, &stats));
  *loss = stats.last_loss;
  NcOptimStep s = step_values();
  *norm = 0;
  if (clip > 0) {
    TRY_OK(nc_model_grad_norm(m, norm));
    s.grad_scale = std::fmin(1.0, clip / (*norm + 1e-6));
  }
  TRY_OK(nc_model_optim_step(m, &s));
  return "";
}

std::string compare_params(NcModel* a, NcModel* b, double tol, const std::string& when) {
  for (int i = 0; i < num_params(a); i++) {
    const std::vector<float> x = param(a, i), y = param(b, i);
    for (size_t j = 0; j < x.size(); j++) {
      const double d = std::fabs((double)x[j] - (double)y[j]);
      if (!(d <= tol)) {
        NcParamInfo info;
        nc_model_param_info(a, i, &info);
        return when + ": " + info.name + "[" + std::to_string(j) + "] = " + std::to_string(x[j]) + " vs " +
               std::to_string(y[j]) + " (tolerance " + std::to_string(tol) + ")";
      }
    }
  }
  return "";
}

// N ranks (rank r backpropagates rows r*R..r*R+R-1 of every global batch) against one model on the whole
// batch, for `steps` steps, the first two clipped on the global norm, the rest reducing inside the step.
std::string ranks_match_one_rank(int rank, int world, const NcCommId& id, const NcCommOptions& opts, int rows_each,
                                 int steps) {
  Handles h;
  TRY_STR(open_rank(h, rank, world, id, opts));
  NcModel *dm = nullptr, *ref = nullptr;
  TRY_STR(new_model(h, true, 7, &dm));
  TRY_STR(new_model(h, false, 7, &ref));
  const int global = rows_each * world;
  for (int k = 0; k < steps; k++) {
    const double clip = k < 2 ? 0.5 : 0.0;  // 0.5 is below the norm of these random models: clipping acts
    double dn, rn, dl, rl;
    TRY_STR(train_step(dm, k, global, rank * rows_each, rows_each, clip, &dn, &dl));
    TRY_STR(train_step(ref, k, global, 0, global, clip, &rn, &rl));
    double mean_loss = dl;
    TRY_OK(nc_comm_allreduce_sum(h.comm, &mean_loss, 1));
    mean_loss /= world;
    if (std::fabs(mean_loss - rl) > 1e-5 * std::fabs(rl))
      return "step " + std::to_string(k) + ": mean loss over ranks " + std::to_string(mean_loss) + " vs " + std::to_string(rl);
    if (clip > 0 && !(std::fabs(dn - rn) <= 1e-5 * rn))
      return "step " + std::to_string(k) + ": global norm " + std::to_string(dn) + " vs one rank's " + std::to_string(rn);
    if (clip > 0 && !(rn > clip)) return "the clip must act for the test to cover it (norm " + std::to_string(rn) + ")";
    TRY_STR(compare_params(dm, ref, kParamTol, "after step " + std::to_string(k)));
  }

  // The state table: this rank's rows are slices of the one-rank state; with the other ranks' rows they
  // cover every element exactly once.
  int32_t nd = 0, nr = 0;
  TRY_OK(nc_model_optim_num_states(dm, &nd));
  TRY_OK(nc_model_optim_num_states(ref, &nr));
  std::map<std::string, int> ref_index;
  std::vector<NcParamInfo> ref_rows((size_t)nr);
  for (int i = 0; i < nr; i++) {
    TRY_OK(nc_model_optim_state_info(ref, i, &ref_rows[(size_t)i]));
    ref_index[ref_rows[(size_t)i].name] = i;
  }
  std::vector<double> covered((size_t)nr, 0.0);
  for (int i = 0; i < nd; i++) {
    NcParamInfo info;
    TRY_OK(nc_model_optim_state_info(dm, i, &info));
    auto it = ref_index.find(info.name);
    if (it == ref_index.end()) return std::string("unknown state row ") + info.name;
    const NcParamInfo& full = ref_rows[(size_t)it->second];
    if (info.full_numel != full.numel || info.offset < 0 || info.offset + info.numel > info.full_numel)
      return std::string("state row ") + info.name + " has a bad slice";
    if (std::string(info.name) == "transformer.wte.weight.exp_avg" &&
        info.numel != (world == 2 ? full.numel / 2 : full.numel))
      return "wte's AdamW state should be " + std::string(world == 2 ? "sharded in halves" : "replicated") +
             ", holds " + std::to_string(info.numel) + " of " + std::to_string(full.numel);
    std::vector<float> mine((size_t)info.numel), whole((size_t)full.numel);
    TRY_OK(nc_model_optim_state_read(dm, i, mine.data(), info.numel));
    TRY_OK(nc_model_optim_state_read(ref, it->second, whole.data(), full.numel));
    for (int64_t j = 0; j < info.numel; j++) {
      const double d = std::fabs((double)mine[(size_t)j] - (double)whole[(size_t)(info.offset + j)]);
      if (!(d <= 1e-4 * (1.0 + std::fabs((double)whole[(size_t)(info.offset + j)]))))
        return std::string("state ") + info.name + "[" + std::to_string(info.offset + j) + "] differs from one rank's";
    }
    // replicated rows are held whole by every rank: count them once (from rank 0)
    const bool replicated = info.numel == info.full_numel && std::string(info.name).find("momentum") == std::string::npos;
    if (!replicated || rank == 0) covered[(size_t)it->second] += (double)info.numel;
  }
  TRY_OK(nc_comm_allreduce_sum(h.comm, covered.data(), nr));
  for (int i = 0; i < nr; i++)
    if (covered[(size_t)i] != (double)ref_rows[(size_t)i].numel)
      return std::string("state ") + ref_rows[(size_t)i].name + ": ranks hold " + std::to_string(covered[(size_t)i]) +
             " elements of " + std::to_string(ref_rows[(size_t)i].numel);
  int64_t t = 0;
  TRY_OK(nc_model_optim_get_step(dm, &t));
  if (t != steps) return "step count " + std::to_string(t);
  return "";
}

std::string all_passed(const std::vector<Outcome>& o) {
  for (const Outcome& x : o)
    if (!x.exited || x.code != 0) return world_test::describe(o);
  return "";
}

TEST(DistTrain, TwoRanksMatchOneRankWithTheGlobalBatch) {
  const auto o = run_world(2, [](int r, int w, const NcCommId& id, const NcCommOptions& opts) {
    return ranks_match_one_rank(r, w, id, opts, 2, 4);
  });
  EXPECT_EQ(all_passed(o), "");
}

TEST(DistTrain, ThreeRanksWithReplicatedAdamWAndPaddedMuonGroups) {
  const auto o = run_world(3, [](int r, int w, const NcCommId& id, const NcCommOptions& opts) {
    return ranks_match_one_rank(r, w, id, opts, 1, 3);
  });
  EXPECT_EQ(all_passed(o), "");
}

// Save (parameters, this rank's state rows, the step) after 2 steps, rebuild a fresh model from that
// alone, and run both 2 more steps: they must agree bit for bit.
TEST(DistTrain, ModelRebuiltFromItsShardContinuesExactly) {
  const auto o = run_world(2, [](int rank, int world, const NcCommId& id, const NcCommOptions& opts) -> std::string {
    Handles h;
    TRY_STR(open_rank(h, rank, world, id, opts));
    NcModel *a = nullptr, *b = nullptr;
    TRY_STR(new_model(h, true, 11, &a));
    double n, l;
    for (int k = 0; k < 2; k++) TRY_STR(train_step(a, k, 4, rank * 2, 2, 0.5, &n, &l));
    TRY_STR(new_model(h, true, 99, &b));  // other weights: everything must come from the "checkpoint"
    for (int i = 0; i < num_params(a); i++) {
      const std::vector<float> v = param(a, i);
      TRY_OK(nc_model_param_write(b, i, v.data(), (int64_t)v.size()));
    }
    int32_t ns = 0, nb = 0;
    TRY_OK(nc_model_optim_num_states(a, &ns));
    TRY_OK(nc_model_optim_num_states(b, &nb));
    if (ns != nb) return "state tables differ in size";
    for (int i = 0; i < ns; i++) {
      NcParamInfo ia, ib;
      TRY_OK(nc_model_optim_state_info(a, i, &ia));
      TRY_OK(nc_model_optim_state_info(b, i, &ib));
      if (std::strcmp(ia.name, ib.name) != 0 || ia.offset != ib.offset || ia.numel != ib.numel)
        return std::string("state row ") + ia.name + " differs between two models on one rank";
      std::vector<float> v((size_t)ia.numel);
      TRY_OK(nc_model_optim_state_read(a, i, v.data(), ia.numel));
      TRY_OK(nc_model_optim_state_write(b, i, v.data(), ia.numel));
    }
    int64_t t = 0;
    TRY_OK(nc_model_optim_get_step(a, &t));
    TRY_OK(nc_model_optim_set_step(b, t));
    for (int k = 2; k < 4; k++) {
      TRY_STR(train_step(a, k, 4, rank * 2, 2, k == 2 ? 0.5 : 0.0, &n, &l));
      TRY_STR(train_step(b, k, 4, rank * 2, 2, k == 2 ? 0.5 : 0.0, &n, &l));
    }
    return compare_params(a, b, 0.0, "after the resumed steps");
  });
  EXPECT_EQ(all_passed(o), "");
}

TEST(DistComm, AllreduceSumIsExactInDoubleAndBarrierMeets) {
  const auto o = run_world(3, [](int rank, int world, const NcCommId& id, const NcCommOptions& opts) -> std::string {
    Handles h;
    TRY_STR(open_rank(h, rank, world, id, opts));
    int32_t r = -1, w = -1;
    TRY_OK(nc_comm_get_rank(h.comm, &r, &w));
    if (r != rank || w != world) return "nc_comm_get_rank";
    double v[3] = {(double)rank, 1e15 + rank, 0.25};
    TRY_OK(nc_comm_allreduce_sum(h.comm, v, 3));
    if (v[0] != 3.0 || v[1] != 3e15 + 3.0 || v[2] != 0.75) return "allreduce_sum: wrong sums";
    TRY_OK(nc_comm_barrier(h.comm));
    return "";
  });
  EXPECT_EQ(all_passed(o), "");
}

// Rank 1 dies between backward and the optimizer step: rank 0's step fails with NC_ERR_PEER_FAILED
// long before the 20 s timeout, and the communicator refuses later calls.
TEST(DistFaults, DeadPeerFailsTheStepPromptly) {
  world_test::WorldOptions wo;
  wo.wait_for = {0};
  const auto o = run_world(2, [](int rank, int world, const NcCommId& id, const NcCommOptions& opts) -> std::string {
    Handles h;
    TRY_STR(open_rank(h, rank, world, id, opts));
    NcModel* m = nullptr;
    TRY_STR(new_model(h, true, 3, &m));
    const std::vector<int32_t> in = tokens(2, 1), tg = tokens(2, 2);
    TRY_OK(nc_model_forward_backward(m, in.data(), tg.data(), 2, kT, 1.0f));
    if (rank == 1) ::_exit(9);
    const double t0 = seconds_now();
    const NcOptimStep s = step_values();
    const int32_t st = nc_model_optim_step(m, &s);
    const double took = seconds_now() - t0;
    const std::string msg = nc_last_error(h.ctx);
    if (st != NC_ERR_PEER_FAILED) return std::string("expected NC_ERR_PEER_FAILED, got ") + nc_status_string(st) + ": " + msg;
    if (took > 5.0) return "the failure took " + std::to_string(took) + " s";
    if (msg.find("rank 0 of 2") == std::string::npos) return "the message should name the rank: " + msg;
    if (nc_comm_barrier(h.comm) == NC_OK) return "a failed communicator must refuse later calls";
    return "";
  }, wo);
  EXPECT_TRUE(o[0].exited && o[0].code == 0) << world_test::describe(o);
}

// Rank 1 hangs (it sleeps past the 1.5 s timeout): rank 0's global norm fails with NC_ERR_TIMEOUT after
// about the timeout, not before and not much later.
TEST(DistFaults, HungPeerTimesOut) {
  world_test::WorldOptions wo;
  wo.wait_for = {0};
  wo.timeout_ms = 1500;
  const auto o = run_world(2, [](int rank, int world, const NcCommId& id, const NcCommOptions& opts) -> std::string {
    Handles h;
    TRY_STR(open_rank(h, rank, world, id, opts));
    NcModel* m = nullptr;
    TRY_STR(new_model(h, true, 3, &m));
    const std::vector<int32_t> in = tokens(2, 1), tg = tokens(2, 2);
    TRY_OK(nc_model_forward_backward(m, in.data(), tg.data(), 2, kT, 1.0f));
    if (rank == 1) ::sleep(30);  // killed by the runner once rank 0 is done
    const double t0 = seconds_now();
    double norm = 0;
    const int32_t st = nc_model_grad_norm(m, &norm);
    const double took = seconds_now() - t0;
    if (st != NC_ERR_TIMEOUT)
      return std::string("expected NC_ERR_TIMEOUT, got ") + nc_status_string(st) + ": " + nc_last_error(h.ctx);
    if (took < 1.0 || took > 5.0) return "the timeout took " + std::to_string(took) + " s for 1.5 s";
    return "";
  }, wo);
  EXPECT_TRUE(o[0].exited && o[0].code == 0) << world_test::describe(o);
}

// A rank that never joins: the others' nc_comm_create fails with NC_ERR_TIMEOUT naming it.
TEST(DistFaults, MissingRankIsNamedAtJoin) {
  world_test::WorldOptions wo;
  wo.spawn = 1;
  wo.timeout_ms = 1000;
  const auto o = run_world(2, [](int rank, int world, const NcCommId& id, const NcCommOptions& opts) -> std::string {
    NcContext* ctx = nullptr;
    NcContextConfig cc;
    std::memset(&cc, 0, sizeof cc);
    TRY_OK(nc_context_create(&cc, &ctx));
    NcComm* comm = nullptr;
    const int32_t st = nc_comm_create(ctx, &id, rank, world, &opts, &comm);
    const std::string msg = nc_last_error(ctx);
    nc_context_destroy(ctx);
    if (st != NC_ERR_TIMEOUT) return std::string("expected NC_ERR_TIMEOUT, got ") + nc_status_string(st) + ": " + msg;
    if (msg.find("1") == std::string::npos) return "the message should name rank 1: " + msg;
    return "";
  }, wo);
  EXPECT_TRUE(o[0].exited && o[0].code == 0) << world_test::describe(o);
}

}  // namespace

namespace {

// NcCommOptions.transport_host is where this rank's Gloo transport listens: an address of another
// machine cannot be bound, and the failure names it (so the option is honored, not ignored).
TEST(DistComm, TransportHostIsHonored) {
  world_test::WorldOptions wo;
  wo.timeout_ms = 3000;
  const auto o = run_world(1, [](int rank, int world, const NcCommId& id, const NcCommOptions& opts) -> std::string {
    NcContext* ctx = nullptr;
    NcContextConfig cc;
    std::memset(&cc, 0, sizeof cc);
    TRY_OK(nc_context_create(&cc, &ctx));
    NcCommOptions bad = opts;
    std::snprintf(bad.transport_host, sizeof bad.transport_host, "192.0.2.1");  // TEST-NET-1, never local
    NcComm* comm = nullptr;
    const int32_t st = nc_comm_create(ctx, &id, rank, world, &bad, &comm);
    const std::string msg = nc_last_error(ctx);
    nc_comm_destroy(comm);
    nc_context_destroy(ctx);
    if (st == NC_OK) return "a transport host of another machine was accepted";
    if (msg.find("192.0.2.1") == std::string::npos) return "the message should name the transport host: " + msg;
    return "";
  }, wo);
  EXPECT_TRUE(o[0].exited && o[0].code == 0) << world_test::describe(o);
}

}  // namespace
