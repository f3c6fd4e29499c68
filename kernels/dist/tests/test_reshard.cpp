// test_reshard.cpp — resuming at another world size: optimizer shards written under W1 (each slice cut
// from a full "true" state whose every element is a known function of its name, row and column) are
// re-sharded for W2 by applying plan_reshard's copies, and every new slice must equal the truth. Missing
// shards and a different model are precise errors.
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "plan_util.h"

using namespace nc::dist;

namespace {

float truth(const std::string& name, int64_t row, int64_t col) {
  return (float)(std::hash<std::string>{}(name) % 1000) + (float)row * 0.5f + (float)col * 0.001f;
}

using Shard = std::vector<std::vector<float>>;  // one buffer per StateSlice of a rank

Shard write_shard(const ShardPlan& plan, int rank) {
  Shard out;
  for (const StateSlice& s : plan.rank_state(rank)) {
    std::vector<float> buf((size_t)((s.row_end - s.row_begin) * s.cols));
    for (int64_t r = s.row_begin; r < s.row_end; r++)
      for (int64_t c = 0; c < s.cols; c++) buf[(r - s.row_begin) * s.cols + c] = truth(s.name, r, c);
    out.push_back(std::move(buf));
  }
  return out;
}

ShardPlan plan_of(const std::vector<ParamSpec>& p, int world) {
  ShardPlan plan;
  EXPECT_TRUE(ShardPlan::build(p, world, &plan).ok());
  return plan;
}

std::vector<int> all_ranks(int w) {
  std::vector<int> v;
  for (int r = 0; r < w; r++) v.push_back(r);
  return v;
}

}  // namespace

TEST(Reshard, EveryWorldSizeToEveryOtherRebuildsTheState) {
  const auto params = dist_test::tiny_params();
  for (int w1 : {1, 2, 3, 4, 8}) {
    const ShardPlan from = plan_of(params, w1);
    std::vector<Shard> old;
    for (int r = 0; r < w1; r++) old.push_back(write_shard(from, r));
    for (int w2 : {1, 2, 3, 4, 8}) {
      const ShardPlan to = plan_of(params, w2);
      for (int r2 = 0; r2 < w2; r2++) {
        std::vector<StateCopy> copies;
        Status st = plan_reshard(from, all_ranks(w1), to, r2, &copies);
        ASSERT_TRUE(st.ok()) << st.message;
        const std::vector<StateSlice> want = to.rank_state(r2);
        Shard fresh;
        std::vector<int64_t> filled(want.size(), 0);
        for (const StateSlice& s : want) fresh.emplace_back((size_t)((s.row_end - s.row_begin) * s.cols), -1.0f);
        for (const StateCopy& c : copies) {
          const StateSlice& d = want[c.dst_slice];
          const std::vector<StateSlice> src_slices = from.rank_state(c.src_rank);
          const StateSlice& s = src_slices[c.src_slice];
          ASSERT_EQ(s.name, d.name);
          ASSERT_LE(c.src_row + c.rows, s.row_end - s.row_begin);
          ASSERT_LE(c.dst_row + c.rows, d.row_end - d.row_begin);
          std::copy_n(old[c.src_rank][c.src_slice].begin() + c.src_row * s.cols, c.rows * s.cols,
                      fresh[c.dst_slice].begin() + c.dst_row * d.cols);
          filled[c.dst_slice] += c.rows;
        }
        for (size_t i = 0; i < want.size(); i++) {
          EXPECT_EQ(filled[i], want[i].row_end - want[i].row_begin) << want[i].name;
          EXPECT_EQ(fresh[i], write_shard(to, r2)[i]) << want[i].name << " " << w1 << " -> " << w2 << " rank " << r2;
        }
        if (w1 == w2) {  // same world size: each slice comes whole from this rank's own shard
          EXPECT_EQ(copies.size(), want.size());
          for (const StateCopy& c : copies) EXPECT_EQ(c.src_rank, r2);
        }
      }
    }
  }
}

TEST(Reshard, MissingShardIsNamed) {
  const auto params = dist_test::tiny_params();
  const ShardPlan from = plan_of(params, 4), to = plan_of(params, 2);
  std::vector<StateCopy> copies;
  // New rank 1 holds rows 128..255 of the sharded AdamW state: old ranks 2 and 3 had them.
  Status st = plan_reshard(from, {0, 1, 3}, to, 1, &copies);
  EXPECT_EQ(st.code, Errc::kState);
  EXPECT_NE(st.message.find("rows 128..191 of transformer.wte.weight.exp_avg"), std::string::npos) << st.message;
  EXPECT_NE(st.message.find("rank 2 of 4 (optim_<step>_rank2), which is missing"), std::string::npos) << st.message;
  // New rank 0 needs only old ranks 0 and 1 for AdamW, but Muon momentum from every owner.
  st = plan_reshard(from, {0, 1}, to, 0, &copies);
  EXPECT_EQ(st.code, Errc::kState);
  EXPECT_NE(st.message.find("momentum_buffer"), std::string::npos) << st.message;
  EXPECT_NE(plan_reshard(from, {0, 9}, to, 0, &copies).message.find("rank 9 is outside 0..3"), std::string::npos);
  EXPECT_NE(plan_reshard(from, all_ranks(4), to, 2, &copies).message.find("rank 2 is outside 0..1"),
            std::string::npos);
}

TEST(Reshard, AnotherModelIsRefusedNamingTheParameter) {
  auto params = dist_test::tiny_params();
  const ShardPlan from = plan_of(params, 2);
  params[4].rows = 16;
  std::vector<StateCopy> copies;
  Status st = plan_reshard(from, all_ranks(2), plan_of(params, 2), 0, &copies);
  EXPECT_EQ(st.code, Errc::kState);
  EXPECT_NE(st.message.find("parameter 4 is 'transformer.h.0.attn.c_proj.weight' [8, 8] (Muon) there but"),
            std::string::npos)
      << st.message;
  params = dist_test::tiny_params();
  params.pop_back();
  st = plan_reshard(from, all_ranks(2), plan_of(params, 2), 0, &copies);
  EXPECT_NE(st.message.find("has 20 parameters but this model has 19"), std::string::npos) << st.message;
}
