// test_host_prep.cpp — the host-side preparation every backend takes from kernels/common: a logits-at
// batch packed up to the last requested position, the KV-cache copy runs, the workspace plan and the
// training calls' row scales and reported losses. The ABI tests cover these through each backend;
// these pin the arithmetic itself (built into nanochat_cpu_tests, whose objects carry common/).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "eval_args.h"
#include "kvcache_args.h"
#include "train_args.h"
#include "workspace_plan.h"

namespace {

TEST(CommonHostPrep, LogitsAtPacksUpToTheLastPosition) {
  const std::vector<int32_t> inputs = {10, 11, 12, 13, 14, 20, 21, 22, 23, 24};  // [2, 5]
  const int32_t positions[2] = {1, 3};
  nc::LastPositionBatch at;
  ASSERT_EQ(nc::pack_to_last_position(nullptr, inputs.data(), positions, 2, 5, &at), NC_OK);
  EXPECT_EQ(at.T, 4);
  ASSERT_EQ(at.tokens, at.packed.data());
  EXPECT_EQ(std::vector<int32_t>(at.tokens, at.tokens + 8), (std::vector<int32_t>{10, 11, 12, 13, 20, 21, 22, 23}));
  EXPECT_EQ(at.rows, (std::vector<int64_t>{1, 4 + 3}));
}

TEST(CommonHostPrep, LogitsAtAtTheLastPositionKeepsTheInputs) {
  const std::vector<int32_t> inputs = {1, 2, 3, 4, 5, 6};  // [2, 3]
  const int32_t positions[2] = {0, 2};
  nc::LastPositionBatch at;
  ASSERT_EQ(nc::pack_to_last_position(nullptr, inputs.data(), positions, 2, 3, &at), NC_OK);
  EXPECT_EQ(at.T, 3);
  EXPECT_EQ(at.tokens, inputs.data());
  EXPECT_TRUE(at.packed.empty());
  EXPECT_EQ(at.rows, (std::vector<int64_t>{0, 3 + 2}));
}

TEST(CommonHostPrep, LogitsAtRefusesAPositionPastT) {
  const std::vector<int32_t> inputs = {1, 2, 3, 4};
  const int32_t positions[2] = {0, 2};
  nc::LastPositionBatch at;
  EXPECT_EQ(nc::pack_to_last_position(nullptr, inputs.data(), positions, 2, 2, &at), NC_ERR_OUT_OF_RANGE);
  EXPECT_NE(std::string(nc_last_error(nullptr)).find("positions[1] = 2 must be in [0, T = 2)"), std::string::npos);
}

TEST(CommonHostPrep, LastTokenRows) {
  EXPECT_EQ(nc::last_token_rows(3, 4), (std::vector<int64_t>{3, 7, 11}));
  EXPECT_EQ(nc::last_token_rows(2, 1), (std::vector<int64_t>{0, 1}));
}

TEST(CommonHostPrep, CacheCopyRunsBroadcastABatchOfOne) {
  nc::KVCacheState src, dst;
  src.batch = 1, src.max_len = 6, src.pos = 4;
  dst.batch = 3, dst.max_len = 8;
  const int64_t L = 2, KV = 5;
  const std::vector<nc::KVCacheRun> runs = nc::kvcache_copy_runs(dst, src, L, KV);
  ASSERT_EQ(runs.size(), (size_t)(L * dst.batch));
  for (int64_t l = 0; l < L; l++) {
    for (int64_t b = 0; b < dst.batch; b++) {
      const nc::KVCacheRun& r = runs[(size_t)(l * dst.batch + b)];
      EXPECT_EQ(r.src, l * src.max_len * KV);  // row 0 of the source's layer l
      EXPECT_EQ(r.dst, (l * dst.batch + b) * dst.max_len * KV);
      EXPECT_EQ(r.n, src.pos * KV);
    }
  }
  src.batch = 3;
  EXPECT_EQ(nc::kvcache_copy_runs(dst, src, L, KV)[4].src, (1 * 3 + 1) * src.max_len * KV);
}

TEST(CommonHostPrep, WorkspacesGrowPerModeAndCarryTheLogitsChunkWhenAsked) {
  nc::ModelLayout m;
  m.V = (int64_t)1 << 17, m.L = 4;
  nc::WorkspaceShape ws;
  nc::WorkspacePlan p = nc::plan_workspace(m, ws, 1000, true, true);
  EXPECT_EQ(p.rows, 1000);
  EXPECT_EQ(p.chunk_rows, nc::kLogitsChunkFloats / m.V);  // 256 rows of a 128K vocabulary
  EXPECT_EQ(p.layer_slots, 4);
  ws.rows = p.rows, ws.chunk_rows = p.chunk_rows, ws.train = true;
  EXPECT_TRUE(nc::workspace_serves(ws, true, 800, true, true));
  EXPECT_FALSE(nc::workspace_serves(ws, false, 800, true, true));   // nothing allocated
  EXPECT_FALSE(nc::workspace_serves(ws, true, 1200, true, true));   // too few rows
  EXPECT_FALSE(nc::workspace_serves(ws, true, 800, false, false));  // the other mode
  EXPECT_EQ(nc::plan_workspace(m, ws, 10, true, false).rows, 1000);  // never shrinks in its mode
  p = nc::plan_workspace(m, ws, 10, false, false);
  EXPECT_EQ(p.rows, 10);
  EXPECT_EQ(p.chunk_rows, 0);
  EXPECT_EQ(p.layer_slots, 1);
  EXPECT_EQ(nc::plan_workspace(m, nc::WorkspaceShape{}, 10, false, true).chunk_rows, 10);  // at most N rows
  ws.chunk_rows = 0;
  EXPECT_FALSE(nc::workspace_serves(ws, true, 800, true, true));  // no logits chunk yet
  EXPECT_TRUE(nc::workspace_serves(ws, true, 800, true, false));
}

TEST(CommonHostPrep, RowScalesAndReportedLosses) {
  const int32_t targets[4] = {3, -1, 0, 7};
  const float weights[4] = {2.0f, 5.0f, 0.0f, 1.0f};
  const float losses[4] = {1.0f, 0.0f, 3.0f, 0.5f};
  float s[4];
  nc::uniform_row_scales(targets, 4, 6.0f, 3, s);
  EXPECT_EQ(std::vector<float>(s, s + 4), (std::vector<float>{2.0f, 0.0f, 2.0f, 2.0f}));
  nc::uniform_row_scales(targets, 4, 6.0f, 0, s);
  EXPECT_EQ(std::vector<float>(s, s + 4), (std::vector<float>{0.0f, 0.0f, 0.0f, 0.0f}));
  nc::weighted_row_scales(targets, weights, 4, 4.0, s);
  EXPECT_EQ(std::vector<float>(s, s + 4), (std::vector<float>{0.5f, 0.0f, 0.0f, 0.25f}));
  EXPECT_DOUBLE_EQ(nc::mean_loss(losses, 4, 3), 4.5 / 3.0);
  EXPECT_DOUBLE_EQ(nc::weighted_loss(targets, weights, losses, 4, 4.0), (2.0 + 0.5) / 4.0);
  NcLossStats st{};
  nc::record_loss(st, 1.5, 3);
  nc::record_loss(st, 0.5, 2);
  EXPECT_DOUBLE_EQ(st.loss_sum, 2.0);
  EXPECT_DOUBLE_EQ(st.last_loss, 0.5);
  EXPECT_EQ(st.calls, 2);
  EXPECT_EQ(st.tokens, 5);
}

}  // namespace
