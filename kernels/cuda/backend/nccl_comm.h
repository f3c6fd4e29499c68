// nccl_comm.h — the cuda backend's device collectives for world_size > 1 (nanochat's DistAdamW/DistMuon
// traffic), behind kernels/dist's Communicator interface so the optimizer does not care which transport
// runs them. Every rank first joins a Gloo communicator over kernels/dist's NCD1 bootstrap store (the id
// nc_comm_id_create makes names rank 0's store); that host communicator then
//   - ships rank 0's ncclUniqueId to the others (a 128-byte broadcast), so NcCommId stays the NCD1 id,
//   - carries the host-side reductions (all_reduce_f64: metrics, stop flags) and the barrier.
// Two implementations: nccl_comm.cpp (GPU: NCCL through dlopen, collectives enqueued on the caller's
// stream) and kernels/emu/nccl_emu.cpp (the emulated build: the same calls on Gloo, after draining the
// emulated stream, so CI runs several ranks without a GPU).
#pragma once

#include <chrono>
#include <memory>

#include "comm.h"

namespace nc::cu_backend {

class DeviceComm : public nc::dist::Communicator {
 public:
  // Waits for everything enqueued on `stream` (a cudaStream_t), collectives included. A collective
  // stuck on a dead or hung peer ends as kPeerFailed / kTimeout after the communicator's timeout (the
  // NCCL communicator is aborted), never a hang.
  virtual nc::dist::Status synchronize(void* stream) = 0;
  // "nccl" or "gloo (emulated device)": named in messages.
  virtual const char* transport() const = 0;
};

// Builds the device communicator of this rank over `host` (which it takes over) on the current device.
nc::dist::Status create_device_comm(std::unique_ptr<nc::dist::Communicator> host, std::chrono::milliseconds timeout,
                                    std::unique_ptr<DeviceComm>* out);

}  // namespace nc::cu_backend
