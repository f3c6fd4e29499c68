// comm.h — the collective communicator that nanochat's distributed optimizer needs (an internal C++ API;
// the backends wrap it behind the C ABI's communicator slot). Gloo implements it for the CPU backend
// (comm_gloo.cpp); NCCL is meant to implement the same interface for CUDA:
//   - the 128-byte UniqueId is ncclUniqueId's size: NCCL's id goes in unchanged;
//   - `stream` is the cudaStream_t an NCCL call is enqueued on (Gloo ignores it: its calls are
//     synchronous and the CPU backend has no streams);
//   - the buffer shapes are NCCL's (ncclReduceScatter's recvcount, ncclAllGather's sendcount).
//
// Semantics shared by every implementation:
//   - every rank calls the same collectives in the same order with the same counts;
//   - a peer that dies, hangs or becomes unreachable turns the pending call into an error (kPeerFailed
//     when its connection closes, kTimeout after `timeout` without progress), never a hang;
//   - after any error the communicator refuses further calls (kState): destroy it and let the job
//     restart (Gloo's transport is in an unknown state after an I/O error);
//   - nothing prints, exits or aborts.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "status.h"
#include "unique_id.h"

namespace nc::dist {

enum class ReduceOp { kSum, kAvg };  // kAvg = the sum divided by world_size (in fp32)

struct CommOptions {
  // Bound on bootstrap (every rank joining) and on each collective waiting for a peer. Compute gaps
  // between collectives (rank 0 evaluating while the others wait) must stay below it.
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  // Address this rank's transport listens on and advertises. Empty: the GLOO_SOCKET_IFNAME interface
  // when that variable is set (PyTorch's name for it), else the local address of the connection to
  // rank 0's store, i.e. the interface that reaches rank 0.
  std::string transport_host;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  // data [count]: reduced in place; every rank ends with the same values.
  virtual Status all_reduce(float* data, size_t count, ReduceOp op, void* stream) = 0;
  // The same in double, for metrics summed over ranks (validation nats and bytes, eval counts, stop
  // flags): host memory, synchronous on every implementation (they are a few numbers per call).
  virtual Status all_reduce_f64(double* data, size_t count, ReduceOp op) = 0;
  // in [world_size * count] (chunk r = elements [r*count, (r+1)*count)); out [count] receives the
  // reduction of chunk `rank`. `in` is scratch: its contents are unspecified afterwards. `out` may lie
  // inside `in` (the in-place form in + rank*count included).
  virtual Status reduce_scatter(float* in, float* out, size_t count, ReduceOp op, void* stream) = 0;
  // in [count]; out [world_size * count] with chunk r = rank r's `in`. `in` may be out + rank*count.
  virtual Status all_gather(const float* in, float* out, size_t count, void* stream) = 0;
  // data [count]: root's values to every rank.
  virtual Status broadcast(float* data, size_t count, int root, void* stream) = 0;
  virtual Status barrier() = 0;
};

// Rank 0: starts the bootstrap store (on every interface, or loopback only when `advertise_host` is a
// loopback name) and returns the id naming it. `advertise_host` is how the other ranks reach rank 0's
// host (MASTER_ADDR). Every rank must call create_gloo_communicator within `valid_for`.
Status make_gloo_unique_id(const std::string& advertise_host, std::chrono::milliseconds valid_for, UniqueId* out);

// Every rank (rank 0 included): joins the run named by `id` as `rank` of `world_size` and connects a
// Gloo TCP full mesh. Blocks until every rank has joined, or fails after options.timeout naming the
// ranks that did not.
Status create_gloo_communicator(const UniqueId& id, int rank, int world_size, const CommOptions& options,
                                std::unique_ptr<Communicator>* out);

}  // namespace nc::dist
