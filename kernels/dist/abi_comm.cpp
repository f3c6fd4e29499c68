// abi_comm.cpp — the NCD1 id, its check and the host Gloo communicator behind nanochat.h's
// nc_comm_id_create / nc_comm_create, and the host collectives behind nc_comm_allreduce_sum /
// nc_comm_barrier, shared by the backends built with kernels/dist (abi_comm.h).
#include "abi_comm.h"

#include <unistd.h>

#include <cstring>
#include <string>

#include "dist_status.h"
#include "errors.h"
#include "unique_id.h"

namespace nc::dist_abi {

namespace {

constexpr int64_t kDefaultTimeoutMs = 5 * 60 * 1000;

// The host other ranks use to reach this one when the caller names none: this machine's name.
std::string default_advertise_host() {
  char name[256] = {0};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == 0) return "127.0.0.1";
  return name;
}

nc::dist::UniqueId unique_id_of(const NcCommId* id) {
  nc::dist::UniqueId uid{};
  static_assert(sizeof uid.bytes == sizeof id->bytes, "the dist id is NcCommId's 128 bytes");
  std::memcpy(uid.bytes, id->bytes, sizeof uid.bytes);
  return uid;
}

}  // namespace

std::chrono::milliseconds comm_timeout(const NcCommOptions* options) {
  return std::chrono::milliseconds(options && options->timeout_ms > 0 ? options->timeout_ms : kDefaultTimeoutMs);
}

int32_t create_comm_id(const NcCommOptions* options, NcCommId* out_id) {
  const std::string host = options && options->advertise_host[0] ? options->advertise_host : default_advertise_host();
  nc::dist::UniqueId id{};
  NC_DIST_TRY(nullptr, nc::dist::make_gloo_unique_id(host, comm_timeout(options), &id));
  std::memcpy(out_id->bytes, id.bytes, sizeof out_id->bytes);
  return NC_OK;
}

int32_t check_comm_id(const NcContext* ctx, const NcCommId* id, const char* backend) {
  nc::dist::BootstrapAddress addr;
  NC_REQUIRE(ctx, nc::dist::decode_unique_id(unique_id_of(id), &addr).ok(), NC_ERR_INVALID_ARGUMENT,
             "the communicator id was not made by nc_comm_id_create of the %s backend (pass rank 0's id "
             "to every rank unchanged)",
             backend);
  return NC_OK;
}

int32_t join_host_comm(const NcContext* ctx, const NcCommId* id, int32_t rank, int32_t world_size,
                       const NcCommOptions* options, std::unique_ptr<nc::dist::Communicator>* out) {
  nc::dist::CommOptions o;
  o.timeout = comm_timeout(options);
  if (options) o.transport_host = options->transport_host;
  NC_DIST_TRY(ctx, nc::dist::create_gloo_communicator(unique_id_of(id), rank, world_size, o, out));
  return NC_OK;
}

int32_t host_allreduce_sum(const NcContext* ctx, nc::dist::Communicator* host, double* inout, int64_t n) {
  if (!host) return NC_OK;  // the sum over the one rank is its own values
  return nc_guard(ctx, [&]() -> int32_t {
    NC_DIST_TRY(ctx, host->all_reduce_f64(inout, (size_t)n, nc::dist::ReduceOp::kSum));
    return NC_OK;
  });
}

int32_t host_barrier(const NcContext* ctx, nc::dist::Communicator* host) {
  if (!host) return NC_OK;  // one rank has always arrived
  return nc_guard(ctx, [&]() -> int32_t {
    NC_DIST_TRY(ctx, host->barrier());
    return NC_OK;
  });
}

}  // namespace nc::dist_abi
