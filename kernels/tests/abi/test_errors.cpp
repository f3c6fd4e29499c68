// test_errors.cpp — bad inputs give an error status and a message naming the problem (with file and
// line), never a crash; handles are checked; and calls work from a thread other than the creator's.
#include <thread>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "test_util.h"

namespace {

std::string last(const NcContext* ctx) { return nc_last_error(ctx); }

void expect_config_error(NcModelConfig cfg, int32_t status, const char* needle) {
  Ctx c;
  NcModel* m = nullptr;
  EXPECT_EQ(nc_model_create(c.ctx, &cfg, &m), status);
  EXPECT_EQ(m, nullptr);
  const std::string msg = last(c.ctx);
  EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  EXPECT_NE(msg.find("kernels/"), std::string::npos) << "message carries file and line: " << msg;
  EXPECT_NE(msg.find(".cpp:"), std::string::npos) << "message carries file and line: " << msg;
  NcParamCounts pc;
  EXPECT_EQ(nc_count_params(&cfg, &pc), status);
}

}  // namespace

TEST(Errors, BadConfigs) {
  NcModelConfig c = tiny_config();
  c.n_embd = 18;  // not divisible by 4 heads
  expect_config_error(c, NC_ERR_INVALID_ARGUMENT, "must be divisible by n_head");
  c = tiny_config();
  c.n_kv_head = 3;  // does not divide 4
  expect_config_error(c, NC_ERR_INVALID_ARGUMENT, "must divide n_head");
  c = tiny_config();
  c.n_kv_head = 8;
  expect_config_error(c, NC_ERR_INVALID_ARGUMENT, "must divide n_head");
  c = tiny_config();
  c.n_embd = 12;  // head_dim 3: odd
  expect_config_error(c, NC_ERR_INVALID_ARGUMENT, "must be even");
  c = tiny_config();
  c.vocab_size = 0;
  expect_config_error(c, NC_ERR_INVALID_ARGUMENT, "vocab_size");
  c = tiny_config();
  c.arch_flags = 1;
  expect_config_error(c, NC_ERR_UNSUPPORTED, "arch_flags");
  c = tiny_config();
  c.reserved[2] = 5;
  expect_config_error(c, NC_ERR_INVALID_ARGUMENT, "reserved");
  c = tiny_config();
  c.rotary_base = 0;
  expect_config_error(c, NC_ERR_INVALID_ARGUMENT, "rotary_base");
  c = tiny_config();
  c.compute_dtype = 7;
  expect_config_error(c, NC_ERR_INVALID_ARGUMENT, "compute_dtype 7");
}

TEST(Errors, BadBatches) {
  Ctx c;
  NcModelConfig cfg = tiny_config();
  Model m(c.ctx, cfg);
  nc_model_init_weights(m.m, 1);
  std::vector<int32_t> in(64, 1), tg(64, 2);
  std::vector<float> out(64 * 37);
  float loss;
  EXPECT_EQ(fwd_bwd(m.m, in.data(), tg.data(), 1, 9, 1.0f, &loss), NC_ERR_OUT_OF_RANGE);
  EXPECT_NE(last(c.ctx).find("sequence_len"), std::string::npos) << last(c.ctx);
  EXPECT_EQ(fwd_bwd(m.m, in.data(), tg.data(), 3, 8, 1.0f, &loss), NC_ERR_OUT_OF_RANGE);
  EXPECT_NE(last(c.ctx).find("max_batch"), std::string::npos) << last(c.ctx);
  EXPECT_EQ(nc_model_forward_logits(m.m, in.data(), 0, 8, out.data()), NC_ERR_OUT_OF_RANGE);
  in[5] = 37;  // == vocab
  EXPECT_EQ(fwd_bwd(m.m, in.data(), tg.data(), 2, 8, 1.0f, &loss), NC_ERR_OUT_OF_RANGE);
  EXPECT_NE(last(c.ctx).find("inputs[5] = 37"), std::string::npos) << last(c.ctx);
  in[5] = -1;
  EXPECT_EQ(nc_model_forward_logits(m.m, in.data(), 2, 8, out.data()), NC_ERR_OUT_OF_RANGE);
  in[5] = 1;
  tg[7] = -2;
  EXPECT_EQ(nc_model_forward_losses(m.m, in.data(), tg.data(), 2, 8, out.data()), NC_ERR_OUT_OF_RANGE);
  EXPECT_NE(last(c.ctx).find("targets[7] = -2"), std::string::npos) << last(c.ctx);
  tg[7] = 37;
  EXPECT_EQ(fwd_bwd(m.m, in.data(), tg.data(), 2, 8, 1.0f, &loss), NC_ERR_OUT_OF_RANGE);
  tg[7] = -1;  // valid again
  NC_ASSERT_OK(fwd_bwd(m.m, in.data(), tg.data(), 2, 8, 1.0f, &loss));
  EXPECT_EQ(fwd_bwd(m.m, in.data(), tg.data(), 2, 8, NAN, &loss), NC_ERR_INVALID_ARGUMENT);
}

TEST(Errors, NullPointersIndicesAndStructs) {
  Ctx c;
  NcModelConfig cfg = tiny_config();
  Model m(c.ctx, cfg);
  std::vector<int32_t> in(16, 1);
  float loss;
  EXPECT_EQ(fwd_bwd(m.m, nullptr, in.data(), 2, 8, 1.0f, &loss), NC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last(c.ctx).find("inputs must not be NULL"), std::string::npos) << last(c.ctx);
  EXPECT_EQ(fwd_bwd(nullptr, in.data(), in.data(), 2, 8, 1.0f, &loss), NC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last(nullptr).find("must not be NULL"), std::string::npos);  // process-wide fallback
  EXPECT_EQ(nc_model_create(c.ctx, nullptr, nullptr), NC_ERR_INVALID_ARGUMENT);
  NcParamInfo info;
  EXPECT_EQ(nc_model_param_info(m.m, 99, &info), NC_ERR_OUT_OF_RANGE);
  EXPECT_EQ(nc_model_param_info(m.m, -1, &info), NC_ERR_OUT_OF_RANGE);
  std::vector<float> buf(10);
  EXPECT_EQ(nc_model_param_read(m.m, 0, buf.data(), 10), NC_ERR_INVALID_ARGUMENT);  // wrong numel
  EXPECT_NE(last(c.ctx).find("transformer.wte.weight has 592 elements"), std::string::npos) << last(c.ctx);
  EXPECT_EQ(nc_model_optim_state_read(m.m, 1000, buf.data(), 10), NC_ERR_OUT_OF_RANGE);
  NcOptimStep st;
  std::memset(&st, 0, sizeof st);
  st.adam_beta1 = 1.0;
  EXPECT_EQ(nc_model_optim_step(m.m, &st), NC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last(c.ctx).find("adam_beta1"), std::string::npos);
  NcKVCache* kv = nullptr;
  EXPECT_EQ(nc_kvcache_create(m.m, 1, 81, &kv), NC_ERR_OUT_OF_RANGE);  // > 10 * sequence_len
  EXPECT_EQ(nc_kvcache_create(m.m, 0, 8, &kv), NC_ERR_INVALID_ARGUMENT);
  NC_ASSERT_OK(nc_kvcache_create(m.m, 2, 8, &kv));
  std::vector<float> out(2 * 37);
  EXPECT_EQ(nc_model_prefill(m.m, kv, in.data(), 1, 4, out.data()), NC_ERR_INVALID_ARGUMENT);  // B != batch
  EXPECT_EQ(nc_model_prefill(m.m, kv, in.data(), 2, 9, out.data()), NC_ERR_OUT_OF_RANGE);
  NC_ASSERT_OK(nc_kvcache_destroy(kv));
  EXPECT_EQ(nc_kvcache_destroy(nullptr), NC_OK);
}

TEST(Errors, ContextRules) {
  const NcDeviceInfo dev = first_device();
  NcContextConfig cc;
  std::memset(&cc, 0, sizeof cc);
  NcContext* ctx = nullptr;
  cc.device = dev.device == NC_DEVICE_CPU ? NC_DEVICE_CUDA : NC_DEVICE_CPU;  // a kind this backend lacks
  EXPECT_EQ(nc_context_create(&cc, &ctx), NC_ERR_UNSUPPORTED);
  EXPECT_EQ(ctx, nullptr);
  EXPECT_NE(last(nullptr).find("is not available in the " + std::string(nc_backend_name()) + " backend"),
            std::string::npos)
      << last(nullptr);
  cc.device = dev.device;
  int32_t count = 0;
  NC_ASSERT_OK(nc_device_count(&count));
  cc.device_index = count;  // one past the last device
  EXPECT_EQ(nc_context_create(&cc, &ctx), NC_ERR_OUT_OF_RANGE);
  EXPECT_NE(last(nullptr).find("device_index " + std::to_string(count)), std::string::npos) << last(nullptr);
  cc.device_index = -1;
  EXPECT_EQ(nc_context_create(&cc, &ctx), NC_ERR_OUT_OF_RANGE);
  cc.device_index = 0;
  cc.num_threads = -1;
  EXPECT_EQ(nc_context_create(&cc, &ctx), NC_ERR_INVALID_ARGUMENT);
  cc.num_threads = 0;
  cc.flags = 0x80;
  EXPECT_EQ(nc_context_create(&cc, &ctx), NC_ERR_INVALID_ARGUMENT);
  cc.flags = 0;
  cc.reserved[1] = 3;
  EXPECT_EQ(nc_context_create(&cc, &ctx), NC_ERR_INVALID_ARGUMENT);
  cc.reserved[1] = 0;
  NC_ASSERT_OK(nc_context_create(&cc, &ctx));
  EXPECT_STREQ(nc_last_error(ctx), "");
  NcModelConfig cfg = tiny_config();
  NcModel* m = nullptr;
  NC_ASSERT_OK(nc_model_create(ctx, &cfg, &m));
  EXPECT_EQ(nc_context_destroy(ctx), NC_ERR_STATE);
  NC_ASSERT_OK(nc_model_destroy(m));
  NC_ASSERT_OK(nc_context_destroy(ctx));
  EXPECT_EQ(nc_abi_version(), NC_ABI_VERSION);
  EXPECT_STREQ(nc_status_string(NC_ERR_OUT_OF_RANGE), "out of range");
}

// Deno runs long calls on a worker thread and reads errors from the main thread.
TEST(Threads, CallsFromAnotherThreadAndErrorsReadElsewhere) {
  Ctx c(2);
  NcModelConfig cfg = tiny_config();
  Model m(c.ctx, cfg);
  nc_model_init_weights(m.m, 3);
  std::vector<int32_t> in = rand_tokens(16, 37, 1), tg = rand_tokens(16, 37, 2);
  float loss_main = 0, loss_worker = 0;
  int32_t st_ok = -1, st_bad = -1;
  NC_ASSERT_OK(fwd_bwd(m.m, in.data(), tg.data(), 2, 8, 1.0f, &loss_main));
  std::thread worker([&]() {
    st_ok = fwd_bwd(m.m, in.data(), tg.data(), 2, 8, 1.0f, &loss_worker);
    st_bad = fwd_bwd(m.m, in.data(), tg.data(), 2, 99, 1.0f, &loss_worker);
  });
  worker.join();
  EXPECT_EQ(st_ok, NC_OK);
  EXPECT_EQ(loss_worker, loss_main);
  EXPECT_EQ(st_bad, NC_ERR_OUT_OF_RANGE);
  EXPECT_NE(last(c.ctx).find("T = 99"), std::string::npos) << last(c.ctx);
}

// The library flushes subnormals while it computes (FTZ/DAZ) but must hand the caller's thread back
// with its floating-point state untouched (on Deno's side that thread runs JavaScript).
TEST(Threads, CallerFloatingPointStateIsRestored) {
#if defined(__x86_64__)
  Ctx c(2);
  NcModelConfig cfg = tiny_config();
  Model m(c.ctx, cfg);
  const unsigned before = _mm_getcsr();
  NC_ASSERT_OK(nc_model_init_weights(m.m, 1));
  std::vector<int32_t> in = rand_tokens(16, 37, 1);
  float loss;
  NC_ASSERT_OK(fwd_bwd(m.m, in.data(), in.data(), 2, 8, 1.0f, &loss));
  EXPECT_EQ(_mm_getcsr(), before);
  volatile float tiny = 1e-39f;  // subnormal arithmetic still works on this thread
  EXPECT_GT(tiny * 1.0f, 0.0f);
#endif
}
