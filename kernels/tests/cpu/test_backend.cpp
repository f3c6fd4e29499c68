// test_backend.cpp — what is particular to the cpu backend behind the common ABI: its one device (the
// host's cores and RAM), the name it reports, its communicator's ids and refusals, and the batched
// Newton-Schulz: with one matrix per thread and single-threaded BLAS the optimizer step gives
// bit-identical parameters for 1 and 2 threads.
#include <omp.h>

#include "test_util.h"

TEST(CpuBackend, OneDeviceTheHost) {
  EXPECT_STREQ(nc_backend_name(), "cpu");
  int32_t count = 0;
  NC_ASSERT_OK(nc_device_count(&count));
  EXPECT_EQ(count, 1);
  const NcDeviceInfo info = first_device();
  EXPECT_EQ(info.device, NC_DEVICE_CPU);
  EXPECT_EQ(info.cores, omp_get_num_procs());
  EXPECT_EQ(info.compute_dtypes, 1u << NC_DTYPE_F32);
  EXPECT_EQ(info.compute_capability_major, 0);
}

#ifdef NC_CPU_DIST
// The Gloo build: ids are kernels/dist's "NCD1" ids (random per run), anything else is refused, and a
// world whose other ranks never join fails within the options' timeout (the multi-process behaviour is
// tests/dist/test_dist_train.cpp's).
TEST(CpuBackend, CommunicatorIdsNameRankZerosStore) {
  Ctx c;
  NcCommOptions opts;
  std::memset(&opts, 0, sizeof opts);
  std::snprintf(opts.advertise_host, sizeof opts.advertise_host, "127.0.0.1");
  opts.timeout_ms = 600;
  NcCommId id;
  NC_ASSERT_OK(nc_comm_id_create(&opts, &id));
  EXPECT_EQ(std::memcmp(id.bytes, "NCD1", 4), 0);
  NcComm* comm = nullptr;
  EXPECT_EQ(nc_comm_create(c.ctx, &id, 0, 2, &opts, &comm), NC_ERR_TIMEOUT);
  EXPECT_EQ(comm, nullptr);
  EXPECT_NE(std::string(nc_last_error(c.ctx)).find("rank"), std::string::npos) << nc_last_error(c.ctx);
  NcCommId zeros;
  std::memset(&zeros, 0, sizeof zeros);
  EXPECT_EQ(nc_comm_create(c.ctx, &zeros, 0, 1, &opts, &comm), NC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(nc_last_error(c.ctx)).find("nc_comm_id_create"), std::string::npos);
  NcCommId other;
  NC_ASSERT_OK(nc_comm_id_create(&opts, &other));
  EXPECT_NE(std::memcmp(id.bytes, other.bytes, sizeof id.bytes), 0) << "ids are random";
}
#else
TEST(CpuBackend, CommunicatorSupportsOneRank) {
  Ctx c;
  NcCommId id;
  NC_ASSERT_OK(nc_comm_id_create(nullptr, &id));
  NcComm* comm = nullptr;
  EXPECT_EQ(nc_comm_create(c.ctx, &id, 0, 2, nullptr, &comm), NC_ERR_UNSUPPORTED);
  EXPECT_EQ(comm, nullptr);
  EXPECT_NE(std::string(nc_last_error(c.ctx)).find("world_size 2"), std::string::npos) << nc_last_error(c.ctx);
  NcCommId zeros;
  std::memset(&zeros, 0, sizeof zeros);
  EXPECT_EQ(nc_comm_create(c.ctx, &zeros, 0, 1, nullptr, &comm), NC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(nc_last_error(c.ctx)).find("nc_comm_id_create"), std::string::npos);
  NcCommId other;
  NC_ASSERT_OK(nc_comm_id_create(nullptr, &other));
  EXPECT_NE(std::memcmp(id.bytes, other.bytes, sizeof id.bytes), 0) << "ids are random";
}
#endif

TEST(CpuBackend, BatchedNewtonSchulzIsThreadCountInvariant) {
  NcModelConfig cfg = tiny_config();
  cfg.n_embd = 64;  // 64 x 64 and 64 x 256 matrices: several of each shape per step
  cfg.n_layer = 3;
  std::vector<int32_t> in = rand_tokens(16, cfg.vocab_size, 111), tg = rand_tokens(16, cfg.vocab_size, 112);
  const NcOptimStep st = default_optim_step();
  std::vector<float> params[2];
  for (int k = 0; k < 2; k++) {
    Ctx c(k + 1);
    Model m(c.ctx, cfg);
    randomize_params(m.m, 113);
    for (int step = 0; step < 2; step++) {
      NC_ASSERT_OK(nc_model_zero_grad(m.m));
      NC_ASSERT_OK(nc_model_forward_backward(m.m, in.data(), tg.data(), 2, 8, 1.0f));
      NC_ASSERT_OK(nc_model_optim_step(m.m, &st));
    }
    int32_t n = 0;
    nc_model_num_params(m.m, &n);
    for (int i = 1; i < n - 1; i++) {  // the Muon matrices
      NcParamInfo info;
      nc_model_param_info(m.m, i, &info);
      std::vector<float> p((size_t)info.numel);
      nc_model_param_read(m.m, i, p.data(), info.numel);
      params[k].insert(params[k].end(), p.begin(), p.end());
    }
  }
  EXPECT_EQ(params[0], params[1]);
}
