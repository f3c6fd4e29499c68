// test_devices.cpp — device discovery (count and a plausible description of every device, bad indices),
// a context on each device, compute dtypes the device does not run, the ABI version check, and the
// communicator slot at world size 1: ids, ranks, collectives, attaching to a model (a training step over
// it equals one without), and its lifetime rules.
#include "test_util.h"

TEST(Devices, DiscoveryDescribesEveryDevice) {
  int32_t count = -1;
  NC_ASSERT_OK(nc_device_count(&count));
  ASSERT_GE(count, 1);
  for (int32_t i = 0; i < count; i++) {
    NcDeviceInfo info;
    std::memset(&info, 0x5a, sizeof info);
    NC_ASSERT_OK(nc_device_info(i, &info));
    EXPECT_EQ(info.index, i);
    EXPECT_TRUE(info.device == NC_DEVICE_CPU || info.device == NC_DEVICE_CUDA);
    EXPECT_GT(std::strlen(info.name), 0u);
    EXPECT_LT(std::strlen(info.name), sizeof info.name);
    EXPECT_GT(info.total_memory, (int64_t)1 << 20) << info.name;
    EXPECT_GT(info.free_memory, 0) << info.name;
    EXPECT_LE(info.free_memory, info.total_memory);
    EXPECT_GE(info.cores, 1);
    // fp32 compute on every CPU; the cuda backend runs bf16 compute (with fp32 master weights) only
    EXPECT_TRUE(info.compute_dtypes & (1u << (info.device == NC_DEVICE_CPU ? NC_DTYPE_F32 : NC_DTYPE_BF16)));
    if (info.device == NC_DEVICE_CUDA) {
      EXPECT_GE(info.compute_capability_major, 8);
    }
    for (int64_t r : info.reserved) EXPECT_EQ(r, 0);
    std::printf("[ info ] device %d: %s, %d cores, %.1f / %.1f GiB free\n", i, info.name, info.cores,
                info.free_memory / 1073741824.0, info.total_memory / 1073741824.0);
    // a context on it
    NcContextConfig cc;
    std::memset(&cc, 0, sizeof cc);
    cc.device = info.device;
    cc.device_index = i;
    NcContext* ctx = nullptr;
    NC_ASSERT_OK(nc_context_create(&cc, &ctx));
    NC_ASSERT_OK(nc_context_destroy(ctx));
  }
  NcDeviceInfo info;
  EXPECT_EQ(nc_device_info(count, &info), NC_ERR_OUT_OF_RANGE);
  EXPECT_NE(std::string(nc_last_error(nullptr)).find("index " + std::to_string(count)), std::string::npos);
  EXPECT_EQ(nc_device_info(-1, &info), NC_ERR_OUT_OF_RANGE);
  EXPECT_EQ(nc_device_info(0, nullptr), NC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nc_device_count(nullptr), NC_ERR_INVALID_ARGUMENT);
}

TEST(Devices, ComputeDtypesTheDeviceDoesNotRunAreRefused) {
  const NcDeviceInfo dev = first_device();
  NcModelConfig cfg = tiny_config();
  cfg.compute_dtype = NC_DTYPE_BF16;
  NcParamCounts pc;
  NC_ASSERT_OK(nc_count_params(&cfg, &pc));  // counting needs no device
  Ctx c;
  NcModel* m = nullptr;
  const int32_t st = nc_model_create(c.ctx, &cfg, &m);
  if (dev.compute_dtypes & (1u << NC_DTYPE_BF16)) {
    NC_ASSERT_OK(st);
    NcParamInfo info;
    NC_ASSERT_OK(nc_model_param_info(m, 0, &info));
    EXPECT_EQ(info.dtype, NC_DTYPE_F32);  // master weights and reads stay fp32
    nc_model_destroy(m);
  } else {
    EXPECT_EQ(st, NC_ERR_UNSUPPORTED);
    EXPECT_EQ(m, nullptr);
    const std::string msg = nc_last_error(c.ctx);
    EXPECT_NE(msg.find("BF16 is not supported by the " + std::string(nc_backend_name()) + " backend"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("cuda backend"), std::string::npos) << "says where bf16 is supported: " << msg;
  }
}

TEST(Devices, AbiVersionCheck) {
  EXPECT_EQ(nc_abi_version(), 2);
  NC_ASSERT_OK(nc_abi_check(NC_ABI_VERSION));
  EXPECT_EQ(nc_abi_check(1), NC_ERR_UNSUPPORTED);
  const std::string msg = nc_last_error(nullptr);
  EXPECT_NE(msg.find("implements ABI version 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("built for version 1"), std::string::npos) << msg;
}

TEST(Comm, WorldOfOneRankReducesToTheLocalValues) {
  Ctx c;
  NcCommOptions opts;
  std::memset(&opts, 0, sizeof opts);
  std::snprintf(opts.advertise_host, sizeof opts.advertise_host, "127.0.0.1");  // one host, no network
  opts.timeout_ms = 20000;
  NcCommId id;
  NC_ASSERT_OK(nc_comm_id_create(&opts, &id));
  NcComm* comm = nullptr;
  EXPECT_EQ(nc_comm_create(c.ctx, &id, 1, 1, &opts, &comm), NC_ERR_OUT_OF_RANGE);  // rank outside the world
  EXPECT_EQ(nc_comm_create(c.ctx, &id, 0, 0, &opts, &comm), NC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nc_comm_create(c.ctx, nullptr, 0, 1, &opts, &comm), NC_ERR_INVALID_ARGUMENT);
  NcCommOptions bad = opts;
  bad.timeout_ms = -1;
  EXPECT_EQ(nc_comm_create(c.ctx, &id, 0, 1, &bad, &comm), NC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(nc_last_error(c.ctx)).find("timeout_ms"), std::string::npos) << nc_last_error(c.ctx);
  bad = opts;
  std::memset(bad.transport_host, 'x', sizeof bad.transport_host);  // no terminating NUL
  EXPECT_EQ(nc_comm_create(c.ctx, &id, 0, 1, &bad, &comm), NC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(nc_last_error(c.ctx)).find("transport_host"), std::string::npos) << nc_last_error(c.ctx);
  NC_ASSERT_OK(nc_comm_create(c.ctx, &id, 0, 1, &opts, &comm));
  int32_t rank = -1, world = -1;
  NC_ASSERT_OK(nc_comm_get_rank(comm, &rank, &world));
  EXPECT_EQ(rank, 0);
  EXPECT_EQ(world, 1);
  double v[3] = {1.5, -2.0, 7.25};
  NC_ASSERT_OK(nc_comm_allreduce_sum(comm, v, 3));
  EXPECT_EQ(v[0], 1.5);
  EXPECT_EQ(v[2], 7.25);
  EXPECT_EQ(nc_comm_allreduce_sum(comm, nullptr, 3), NC_ERR_INVALID_ARGUMENT);
  NC_ASSERT_OK(nc_comm_barrier(comm));

  // a training step over the communicator equals one without
  NcModelConfig cfg = tiny_config();
  Model with(c.ctx, cfg), without(c.ctx, cfg);
  NC_ASSERT_OK(nc_model_attach_comm(with.m, comm));
  std::vector<int32_t> in = rand_tokens(16, cfg.vocab_size, 101), tg = rand_tokens(16, cfg.vocab_size, 102);
  const NcOptimStep st = default_optim_step();
  double norms[2];
  NcModel* models[2] = {with.m, without.m};
  for (int k = 0; k < 2; k++) {
    randomize_params(models[k], 103);
    NC_ASSERT_OK(nc_model_zero_grad(models[k]));
    NC_ASSERT_OK(nc_model_forward_backward(models[k], in.data(), tg.data(), 2, 8, 1.0f));
    NC_ASSERT_OK(nc_model_grad_norm(models[k], &norms[k]));
    NC_ASSERT_OK(nc_model_optim_step(models[k], &st));
  }
  EXPECT_EQ(norms[0], norms[1]);
  for (int i = 0; i < 2 + 6 * cfg.n_layer; i++) {
    NcParamInfo info;
    nc_model_param_info(with.m, i, &info);
    std::vector<float> a((size_t)info.numel), b((size_t)info.numel);
    nc_model_param_read(with.m, i, a.data(), info.numel);
    nc_model_param_read(without.m, i, b.data(), info.numel);
    EXPECT_EQ(a, b) << info.name;
  }
  // lifetime: the optimizer state exists now, so the attachment is fixed; the comm outlives its models
  EXPECT_EQ(nc_model_attach_comm(with.m, nullptr), NC_ERR_STATE);
  EXPECT_EQ(nc_comm_destroy(comm), NC_ERR_STATE);
  EXPECT_NE(std::string(nc_last_error(c.ctx)).find("attached to 1 model"), std::string::npos);
  Model fresh(c.ctx, cfg);
  NC_ASSERT_OK(nc_model_attach_comm(fresh.m, comm));
  NC_ASSERT_OK(nc_model_attach_comm(fresh.m, nullptr));  // detached again before any state exists
  nc_model_destroy(with.m);
  with.m = nullptr;
  EXPECT_EQ(nc_context_destroy(c.ctx), NC_ERR_STATE);  // models and the comm are still alive
  NC_ASSERT_OK(nc_comm_destroy(comm));
  NC_ASSERT_OK(nc_comm_destroy(nullptr));
}
