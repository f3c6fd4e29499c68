// dist_shim.cpp — a small C interface over the Gloo communicator, so that a Deno program started by the
// launcher (src/dist/) can bootstrap from a 128-byte id and all-reduce across ranks. It is the phase-A
// harness for the launcher and rendezvous; the backends offer the same through nanochat.h's
// communicator. Functions return 0 or an nc::dist::Errc value; ncd_last_error() says why.
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "comm.h"

using nc::dist::Communicator;
using nc::dist::Errc;
using nc::dist::Status;

struct NcdComm {
  std::unique_ptr<Communicator> comm;
};

namespace {
std::mutex g_mu;
std::string g_err;
thread_local std::string tl_copy;

int32_t report(const Status& st) {
  if (!st.ok()) {
    std::lock_guard<std::mutex> lock(g_mu);
    g_err = st.message;
  }
  return (int32_t)st.code;
}

template <typename F>
int32_t guarded(F&& body) {
  try {
    return report(body());
  } catch (const std::exception& e) {
    return report(DIST_ERROR(Errc::kInternal, "unexpected C++ exception: %s", e.what()));
  }
}
}  // namespace

#define NCD_API extern "C" __attribute__((visibility("default")))

// The message of the last failure in this process (a copy owned by the calling thread).
NCD_API const char* ncd_last_error(void) {
  std::lock_guard<std::mutex> lock(g_mu);
  tl_copy = g_err;
  return tl_copy.c_str();
}

// Rank 0: starts the bootstrap store and writes the 128-byte id to out_id.
NCD_API int32_t ncd_unique_id(const char* advertise_host, int32_t valid_for_ms, uint8_t* out_id) {
  return guarded([&] {
    if (!advertise_host || !out_id) return DIST_ERROR(Errc::kInvalidArgument, "null argument");
    nc::dist::UniqueId id;
    Status st = nc::dist::make_gloo_unique_id(advertise_host, std::chrono::milliseconds(valid_for_ms), &id);
    if (st.ok()) std::memcpy(out_id, id.bytes, sizeof id.bytes);
    return st;
  });
}

NCD_API int32_t ncd_comm_create(const uint8_t* id_bytes, int32_t rank, int32_t world_size, int32_t timeout_ms,
                                NcdComm** out) {
  return guarded([&] {
    if (!id_bytes || !out) return DIST_ERROR(Errc::kInvalidArgument, "null argument");
    *out = nullptr;
    nc::dist::UniqueId id;
    std::memcpy(id.bytes, id_bytes, sizeof id.bytes);
    nc::dist::CommOptions opts;
    opts.timeout = std::chrono::milliseconds(timeout_ms);
    auto handle = std::make_unique<NcdComm>();
    Status st = nc::dist::create_gloo_communicator(id, rank, world_size, opts, &handle->comm);
    if (st.ok()) *out = handle.release();
    return st;
  });
}

NCD_API int32_t ncd_comm_destroy(NcdComm* comm) {
  delete comm;
  return 0;
}

// data [count], in place; op 0 = sum, 1 = average.
NCD_API int32_t ncd_all_reduce(NcdComm* comm, float* data, int64_t count, int32_t op) {
  return guarded([&] {
    if (!comm) return DIST_ERROR(Errc::kInvalidArgument, "null communicator");
    if (count < 0 || op < 0 || op > 1) return DIST_ERROR(Errc::kInvalidArgument, "bad count or op");
    return comm->comm->all_reduce(data, (size_t)count, op ? nc::dist::ReduceOp::kAvg : nc::dist::ReduceOp::kSum,
                                  nullptr);
  });
}
