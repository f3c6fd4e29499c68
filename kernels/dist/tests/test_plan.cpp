// test_plan.cpp — the sharding plan against nanochat A's DistMuon/DistAdamW rules written out again here
// from the Python (owners by the block-cyclic loop, groups by sorted shape), the stacked buffer layout,
// the AdamW fallback, the optimizer state each rank saves, and the communication volume at d20 on 8 ranks
// that kernels/dist/SCALING.md uses.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "plan_util.h"

using namespace nc::dist;
using dist_test::nanochat_params;
using dist_test::tiny_params;

namespace {
ShardPlan plan_of(const std::vector<ParamSpec>& p, int world) {
  ShardPlan plan;
  Status st = ShardPlan::build(p, world, &plan);
  EXPECT_TRUE(st.ok()) << st.message;
  return plan;
}
}  // namespace

TEST(Plan, MuonOwnersFollowNanochatA) {
  const auto params = tiny_params();
  for (int W = 1; W <= 5; W++) {
    const ShardPlan plan = plan_of(params, W);
    // nanochat A: shapes = sorted({p.shape}); for each shape's params (model order), for base_i in
    // range(0, len, W): rank r owns params[base_i + r].
    std::set<std::pair<int64_t, int64_t>> shapes;
    for (const auto& p : params)
      if (p.kind == OptimKind::kMuon) shapes.insert({p.rows, p.cols});
    std::map<int, int> want_owner;
    size_t group = 0;
    for (const auto& shape : shapes) {
      std::vector<int> members;
      for (int i = 0; i < (int)params.size(); i++)
        if (params[i].kind == OptimKind::kMuon && std::make_pair(params[i].rows, params[i].cols) == shape)
          members.push_back(i);
      ASSERT_LT(group, plan.muon().size());
      EXPECT_EQ(plan.muon()[group].params, members);
      EXPECT_EQ(plan.muon()[group].rows, shape.first);
      EXPECT_EQ(plan.muon()[group].cols, shape.second);
      for (size_t base = 0; base < members.size(); base += W)
        for (int r = 0; r < W && base + r < members.size(); r++) want_owner[members[base + r]] = r;
      group++;
    }
    EXPECT_EQ(plan.muon().size(), shapes.size());
    for (int i = 0; i < (int)params.size(); i++)
      EXPECT_EQ(plan.muon_owner(i), want_owner.count(i) ? want_owner[i] : -1) << "param " << i << " W " << W;
  }
}

TEST(Plan, StackedLayoutPutsEveryParameterOnceAndPadsTheRest) {
  const auto params = tiny_params();
  for (int W = 1; W <= 7; W++) {
    const ShardPlan plan = plan_of(params, W);
    for (int g = 0; g < (int)plan.muon().size(); g++) {
      const MuonGroup& grp = plan.muon()[g];
      const int64_t K = (int64_t)grp.params.size();
      EXPECT_EQ(grp.slots_per_rank, (K + W - 1) / W);
      std::multiset<int> seen;
      int padding = 0;
      for (int r = 0; r < W; r++)
        for (int64_t j = 0; j < grp.slots_per_rank; j++) {
          const int p = plan.muon_slot_param(g, r, j);
          if (p < 0) {
            padding++;
            continue;
          }
          seen.insert(p);
          EXPECT_EQ(p, grp.params[j * W + r]);
          EXPECT_EQ(plan.muon_owner(p), r);  // a rank's chunk holds exactly the parameters it owns
          int g2, r2;
          int64_t j2;
          ASSERT_TRUE(plan.muon_slot_of(p, &g2, &r2, &j2));
          EXPECT_EQ(std::make_tuple(g2, r2, j2), std::make_tuple(g, r, j));
        }
      EXPECT_EQ(seen, std::multiset<int>(grp.params.begin(), grp.params.end()));
      EXPECT_EQ(padding, grp.slots_per_rank * W - K);
    }
    EXPECT_EQ(plan.muon_slot_param(0, W, 0), -1);
    EXPECT_EQ(plan.muon_slot_param(0, 0, plan.muon()[0].slots_per_rank), -1);
  }
}

TEST(Plan, AdamWShardsDivisibleLargeParametersAndAllReducesTheRest) {
  auto params = tiny_params();
  params.push_back({"small.bias", 10, 1, OptimKind::kAdamW});  // 10 elements: HEAD all-reduces these
  for (int W : {1, 2, 3, 4}) {
    const ShardPlan plan = plan_of(params, W);
    ASSERT_EQ(plan.adamw().size(), 3u);
    for (const AdamWShard& a : plan.adamw()) {
      const ParamSpec& p = params[a.param];
      const bool want_sharded = p.numel() >= 1024 && p.rows % W == 0;
      EXPECT_EQ(a.mode == AdamWMode::kSharded, want_sharded) << p.name << " W " << W;
      EXPECT_EQ(a.rows_per_rank, want_sharded ? p.rows / W : p.rows);
      for (int r = 0; r < W; r++) EXPECT_EQ(a.row_begin(r), want_sharded ? r * p.rows / W : 0);
    }
  }
}

TEST(Plan, EachStateRowIsSavedByItsOwnerAndReplicasByEveryone) {
  const auto params = tiny_params();
  for (int W : {1, 2, 3, 4}) {
    const ShardPlan plan = plan_of(params, W);
    std::map<std::string, std::vector<int>> rows_held;  // state -> per-row count of ranks holding it
    for (int r = 0; r < W; r++) {
      std::string prev_kind = "adamw";
      for (const StateSlice& s : plan.rank_state(r)) {
        const ParamSpec& p = params[s.param];
        EXPECT_EQ(s.rows, p.rows);
        EXPECT_EQ(s.cols, p.cols);
        const bool momentum = s.name == p.name + ".momentum_buffer";
        EXPECT_TRUE(momentum || s.name == p.name + ".exp_avg" || s.name == p.name + ".exp_avg_sq") << s.name;
        if (momentum) {
          EXPECT_EQ(plan.muon_owner(s.param), r);
          prev_kind = "muon";
        }
        EXPECT_TRUE(!(prev_kind == "muon" && !momentum)) << "AdamW state must come first";
        auto& held = rows_held[s.name];
        held.resize(s.rows, 0);
        for (int64_t i = s.row_begin; i < s.row_end; i++) held[i]++;
      }
    }
    for (const ParamSpec& p : params) {
      if (p.kind == OptimKind::kMuon) {
        EXPECT_EQ(rows_held[p.name + ".momentum_buffer"], std::vector<int>(p.rows, 1)) << p.name;
        continue;
      }
      const bool sharded = p.numel() >= 1024 && p.rows % W == 0;
      for (const char* suffix : {".exp_avg", ".exp_avg_sq"})
        EXPECT_EQ(rows_held[p.name + suffix], std::vector<int>(p.rows, sharded ? 1 : W)) << p.name << suffix;
    }
  }
  EXPECT_TRUE(plan_of(params, 2).rank_state(2).empty());
}

TEST(Plan, D20OnEightRanksMovesWhatScalingMdSays) {
  // nanochat A d20: C 1280, 10 heads, vocab 65536; 560,988,160 parameters.
  const ShardPlan plan = plan_of(nanochat_params(dist_test::depth_model(20)), 8);
  ASSERT_EQ(plan.muon().size(), 3u);
  // (1280,1280) x 80 -> 10 slots; (1280,5120) x 20 and (5120,1280) x 20 -> 3 slots, 4 of 24 padding.
  EXPECT_EQ(plan.muon()[0].params.size(), 80u);
  EXPECT_EQ(plan.muon()[0].slots_per_rank, 10);
  EXPECT_EQ(std::make_pair(plan.muon()[1].rows, plan.muon()[1].cols), std::make_pair((int64_t)1280, (int64_t)5120));
  EXPECT_EQ(plan.muon()[1].slots_per_rank, 3);
  EXPECT_EQ(plan.muon()[2].slots_per_rank, 3);
  for (const AdamWShard& a : plan.adamw()) {
    EXPECT_EQ(a.mode, AdamWMode::kSharded);
    EXPECT_EQ(a.rows_per_rank, 8192);
  }
  const CommVolume v = plan.volume();
  EXPECT_EQ(v.reduce_scatter_elems, 613416960);  // 2 x 83,886,080 (AdamW) + 445,644,800 (Muon stacks, padded)
  EXPECT_EQ(v.all_gather_elems, 613416960);
  EXPECT_EQ(v.padding_elems, 52428800);  // 8 x 6,553,600
  EXPECT_EQ(v.all_reduce_elems, 0);
  EXPECT_EQ(v.reduce_scatter_calls, 5);
  EXPECT_EQ(v.all_gather_calls, 5);
  // fp32: 2 x 7/8 x 613,417,216 x 4 B = 4.294 GB sent per rank per step.
  EXPECT_NEAR(v.ring_bytes_per_rank(8, 4), 4293918720.0, 1.0);
  EXPECT_EQ(v.ring_bytes_per_rank(1, 4), 0.0);
}

TEST(Plan, BadInputsAreRefused) {
  ShardPlan plan;
  EXPECT_NE(ShardPlan::build(tiny_params(), 0, &plan).message.find("world size 0"), std::string::npos);
  EXPECT_NE(ShardPlan::build({}, 2, &plan).message.find("at least one parameter"), std::string::npos);
  auto p = tiny_params();
  p[2].name = p[1].name;
  EXPECT_NE(ShardPlan::build(p, 2, &plan).message.find("appears twice"), std::string::npos);
  p = tiny_params();
  p[3].rows = 0;
  Status st = ShardPlan::build(p, 2, &plan);
  EXPECT_NE(st.message.find("[0, 8]"), std::string::npos) << st.message;
  EXPECT_EQ(st.message.find("kernels/dist/shard_plan.cpp:"), 0u) << st.message;
  p = tiny_params();
  p[0].name = "";
  EXPECT_NE(ShardPlan::build(p, 2, &plan).message.find("has no name"), std::string::npos);
}
